/**
 * Graph fusion for the device a model will run on: plain exports rewritten into the fused
 * operators ONNX Runtime's providers run fast. Passes are listed per target here, in one place.
 */
import { fuseAttention } from './attention-fusion.js';
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
// GroupNorm and SkipGroupNorm have kernels on CUDA only; SkipGroupNorm takes its GroupNorms first.
const SKIP_GROUP_NORM: Pass = { fuses: 'SkipGroupNorm', run: fuseSkipGroupNorm };
const GROUP_NORM: Pass = { fuses: 'GroupNorm', run: fuseGroupNorm };

// MultiHeadAttention has kernels on all three providers.
const PASSES: Record<OptimizeTarget, Pass[]> = {
  cuda: [ATTENTION, SKIP_GROUP_NORM, GROUP_NORM],
  webgpu: [ATTENTION],
  cpu: [ATTENTION],
};

/** Rewrites what `target`'s provider runs fused; never changes what the model computes beyond rounding. */
export function optimizeGraph(model: Uint8Array, target: OptimizeTarget): OptimizeResult {
  const passes = PASSES[target];
  if (!passes) throw new Error(`unknown optimize target; use one of ${Object.keys(PASSES).join(', ')}`);
  const decoded = decodeModel(model);
  const fused: Record<string, number> = {};
  for (const pass of passes) {
    const count = pass.run(decoded);
    if (count > 0) fused[pass.fuses] = (fused[pass.fuses] ?? 0) + count;
  }
  return Object.keys(fused).length === 0 ? { bytes: model, fused } : { bytes: encodeModel(decoded), fused };
}
