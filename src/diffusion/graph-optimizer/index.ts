/**
 * Graph fusion for the device a model will run on: plain exports rewritten into the fused
 * operators ONNX Runtime's providers run fast. Passes are listed per target here, in one place.
 */
import { fuseAttention } from './attention-fusion.js';
import { fuseBiasAdd } from './bias-add-fusion.js';
import { fuseBiasSplitGelu } from './bias-split-gelu-fusion.js';
import { fuseSkipLayerNorm } from './skip-layer-norm-fusion.js';
import { fuseGroupNorm, fuseSkipGroupNorm } from './group-norm-fusion.js';
import { decodeModel, encodeModel, type Model } from './model-proto.js';

export type OptimizeTarget = 'cuda' | 'webgpu' | 'cpu';

export interface OptimizeResult {
  /** The optimized model's bytes, or the input bytes themselves (the same Uint8Array) when nothing matched. */
  bytes: Uint8Array;
  /** Count of fused nodes added, by op type, e.g. { MultiHeadAttention: 16 }; {} when nothing matched. */
  fused: Record<string, number>;
}

interface Pass {
  /** The op type the pass adds. */
  fuses: string;
  /** Rewrites the model in place; returns how many fused nodes it added. */
  run(model: Model): number;
}

const ATTENTION: Pass = { fuses: 'MultiHeadAttention', run: fuseAttention };
/**
 * BiasSplitGelu runs on CUDA and WebGPU only; ORT's CPU provider has no kernel for it.
 * CUDA (onnxruntime/contrib_ops/cuda/diffusion/bias_split_gelu.cc and _impl.cu): X must be 3-D,
 * bias 1-D of X's last size D, and D 2560, 5120 or 10240 (SD's 320·8, 640·8, 1280·8) or the
 * kernel fails. WebGPU (contrib_ops/webgpu/bert/bias_split_gelu.cc): 3-D X, 1-D bias of size D,
 * any D, but it reads X, bias and Y in vectors of GetMaxComponents(D) (4 when 4 divides D) and
 * halves D counted in those vectors, so D/4 must be even: D % 8 == 0 is what it computes right.
 */
const BIAS_SPLIT_GELU_CUDA: Pass = { fuses: 'BiasSplitGelu', run: (model) => fuseBiasSplitGelu(model, (d) => d === 2560 || d === 5120 || d === 10240) };
const BIAS_SPLIT_GELU_WEBGPU: Pass = { fuses: 'BiasSplitGelu', run: (model) => fuseBiasSplitGelu(model, (d) => d % 8 === 0) };
// CUDA and WebGPU only, C of 320, 640 or 1280 on both (bias-add-fusion.ts says why).
const BIAS_ADD: Pass = { fuses: 'BiasAdd', run: fuseBiasAdd };
// WebGPU only, where ORT has no fusion of its own (skip-layer-norm-fusion.ts). ORT's, on CPU and
// CUDA, leaves the sums the residual stream reads on; ours on the CPU measured no faster
// (bench/README.md), and CUDA's kernel waits for a GPU run. Before BiasAdd, which leaves it the
// sums a LayerNormalization reads.
const SKIP_LAYER_NORM: Pass = { fuses: 'SkipLayerNormalization', run: fuseSkipLayerNorm };

// GroupNorm and SkipGroupNorm have kernels on CUDA only; SkipGroupNorm takes its GroupNorms first.
const SKIP_GROUP_NORM: Pass = { fuses: 'SkipGroupNorm', run: fuseSkipGroupNorm };
const GROUP_NORM: Pass = { fuses: 'GroupNorm', run: fuseGroupNorm };

// MultiHeadAttention has kernels on all three providers.
const PASSES: Record<OptimizeTarget, Pass[]> = {
  cuda: [ATTENTION, SKIP_GROUP_NORM, GROUP_NORM, BIAS_SPLIT_GELU_CUDA, BIAS_ADD],
  webgpu: [ATTENTION, BIAS_SPLIT_GELU_WEBGPU, SKIP_LAYER_NORM, BIAS_ADD],
  cpu: [ATTENTION],
};

/**
 * Rewrites what `target`'s provider runs fused; never changes what the model computes beyond
 * rounding. `options.without` leaves out the passes adding those op types (bench/gpu times each
 * fusion's worth on a GPU that way).
 */
export function optimizeGraph(model: Uint8Array, target: OptimizeTarget, options: { without?: readonly string[] } = {}): OptimizeResult {
  const passes = PASSES[target]?.filter((pass) => !options.without?.includes(pass.fuses));
  if (!passes) throw new Error(`unknown optimize target; use one of ${Object.keys(PASSES).join(', ')}`);
  const decoded = decodeModel(model);
  const fused: Record<string, number> = {};
  for (const pass of passes) {
    const count = pass.run(decoded);
    if (count > 0) fused[pass.fuses] = (fused[pass.fuses] ?? 0) + count;
  }
  return Object.keys(fused).length === 0 ? { bytes: model, fused } : { bytes: encodeModel(decoded), fused };
}
