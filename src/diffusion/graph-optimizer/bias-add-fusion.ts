/**
 * The feed-forward residual pass: `x + ff_out(h)` — the out-projection's MatMul, its bias Add and
 * the residual Add — as one com.microsoft BiasAdd(MatMul output, bias, residual).
 *
 * BiasAdd (docs/ContribOperators.md): Y = X + bias + skip, X and skip [N, S, C], bias [C]. ONNX
 * Runtime made it for SD's BasicTransformerBlock: its own SD optimizer fuses the Add pair that
 * follows the feed-forward's second MatMul (the one after BiasSplitGelu) with the residual
 * stream as skip (onnxruntime/python/tools/transformers/fusion_bias_add.py, read for that fact).
 * The attention residuals are followed by a LayerNormalization and go to SkipLayerNormalization
 * instead, so a sum a LayerNormalization reads is left for that pass (ours or ORT's own).
 *
 * Kernel constraints, the same on both providers that have one (CPU has none):
 * - CUDA, onnxruntime/contrib_ops/cuda/diffusion/bias_add.cc: X 3-D, C 320, 640 or 1280 (else an
 *   error), bias 1-D of C, skip's shape equal to X's (else an error).
 * - WebGPU, onnxruntime/contrib_ops/webgpu/bert/bias_add.cc: X 3-D, bias 1-D of C; its first
 *   version also took only C 320/640/1280, and it reads skip at X's offsets without checking its
 *   shape, so a broadcast skip would be read out of bounds. Fused only under CUDA's rules here.
 */
import { CONTRIB_DOMAIN } from './rewrite.js';
import { applyFusions, type Fusion, isPlain, namer, otherInput } from './fusion-rewrite.js';
import { GraphIndex } from './graph-index.js';
import { type Model, type Node, onnx } from './model-proto.js';
import { sameShape } from './same-shape.js';
import { type Dims, inferShapes } from './static-shapes.js';

const BIAS_ADD_CHANNELS = new Set([320, 640, 1280]);

/** Rewrites `model` in place; returns how many BiasAdd nodes it added. */
export function fuseBiasAdd(model: Model): number {
  const index = new GraphIndex(model.graph!);
  const shapes = inferShapes(index);
  const name = namer(model);
  const fusions = (model.graph!.node ?? []).flatMap((node): Fusion[] => {
    const match = matchBiasResidual(node, index, shapes);
    if (!match) return [];
    const fused = onnx.NodeProto.create({ name: name('BiasAdd_fused'), opType: 'BiasAdd', domain: CONTRIB_DOMAIN, input: [match.input, match.bias, match.skip], output: [node.output![0]!] });
    return [{ nodes: [match.biasAdd, node], at: node, fused }];
  });
  return applyFusions(model, fusions);
}

interface BiasResidual {
  input: string;
  bias: string;
  skip: string;
  biasAdd: Node;
}

function matchBiasResidual(residual: Node, index: GraphIndex, shapes: Map<string, Dims>): BiasResidual | undefined {
  if (!isPlain(residual, 'Add') || (residual.input ?? []).length !== 2) return undefined;
  if (index.readersOf(residual.output![0]!).some((reader) => isPlain(reader, 'LayerNormalization'))) return undefined;
  for (const sum of residual.input!) {
    const biasAdd = index.producer.get(sum);
    const skip = otherInput(residual, sum);
    if (!isPlain(biasAdd, 'Add') || skip === undefined || index.soleReader(sum) !== residual) continue;
    for (const input of biasAdd.input ?? []) {
      const bias = otherInput(biasAdd, input);
      const channels = shapes.get(input)?.[2];
      if (bias === undefined || typeof channels !== 'number' || !BIAS_ADD_CHANNELS.has(channels)) continue;
      const biasDims = shapes.get(bias);
      if (biasDims?.length !== 1 || biasDims[0] !== channels || !isPlain(index.producer.get(input), 'MatMul')) continue;
      if (sameShape(input, skip, index, shapes)) return { input, bias, skip, biasAdd };
    }
  }
  return undefined;
}
