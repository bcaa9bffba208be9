/**
 * What the SDPA export tests (torch 2.x's TorchScript lowering, and torch ≥ 2.9's dynamo one) prove
 * of a fused graph, on the one shape they all build: AttnProcessor2_0 on x [2, 5, 8], or over a
 * context [2, 3, 6], with 2 heads.
 */
import assert from 'node:assert/strict';

import onnxProto from 'onnx-proto';

import { optimizeGraph } from '../../src/diffusion/graph-optimizer/index.js';
import { DataType, type GraphBuilder } from '../../tools/model-builder/onnx-graph.js';
import { compareRuns, randomFeeds } from './onnx-parity.js';

const { onnx } = onnxProto;
export const [BATCH, LQ, LK, WIDTH, CONTEXT_WIDTH, HEADS] = [2, 5, 3, 8, 6, 2];
export const HEAD_DIM = WIDTH / HEADS;

/** What a test's graph inputs are: a context to attend over, sizes left to run time, a mask (an input, or a constant initializer named mask…). */
export interface SdpaInputs {
  cross?: boolean;
  dynamic?: boolean;
  mask?: 'input' | 'constant';
}

/**
 * The graph's inputs and the q, k, v projections (x·W, or the context's for k and v), with the
 * helpers a dynamic-axes spec is built of: an int64 scalar, a size of a value's Shape, a Concat of
 * scalars.
 */
export function attentionProjections(g: GraphBuilder, v: SdpaInputs) {
  const x = g.input('x', DataType.FLOAT, v.dynamic ? ['batch', 'tokens', WIDTH] : [BATCH, LQ, WIDTH]);
  const [keyLength, keyWidth] = v.cross ? [v.dynamic ? 'context_tokens' : LK, CONTEXT_WIDTH] : [v.dynamic ? 'tokens' : LQ, WIDTH];
  const source = v.cross ? g.input('context', DataType.FLOAT, [v.dynamic ? 'batch' : BATCH, keyLength, keyWidth]) : x;
  const weight = (rows: number, seed: number) => g.floats('w', Array.from({ length: rows * WIDTH }, (_, i) => Math.sin(i * 0.7 + seed) * 0.5), [rows, WIDTH]);
  const [q, k, val] = [g.node('MatMul', [x, weight(WIDTH, 1)]), g.node('MatMul', [source, weight(keyWidth, 2)]), g.node('MatMul', [source, weight(keyWidth, 3)])];
  const scalar = (value: number) => g.int64s('c', [value], []);
  const size = (value: string, axis: number) => g.node('Gather', [g.node('Shape', [value]), scalar(axis)], { axis: 0 });
  const spec = (...sizes: string[]) => g.node('Concat', sizes.map((s) => g.node('Unsqueeze', [s, g.int64s('axes', [0])])), { axis: 0 });
  return { x, keyLength, source, q, k, val, scalar, size, spec };
}

export function fusedNodes(bytes: Uint8Array) {
  return (onnx.ModelProto.decode(bytes).graph!.node ?? []).filter((n) => n.opType === 'MultiHeadAttention');
}

/** Run sizes for a dynamic model's inputs: batch 1 and 3, 5 and 7 tokens, 3 and 4 context tokens. */
export function dynamicFeeds(plain: Uint8Array, v: SdpaInputs) {
  return [[1, 5, 3], [3, 7, 4]].map(([b, l, lk]) => {
    const kl = v.cross ? lk! : l!;
    const sizes: Record<string, number[]> = { x: [b!, l!, WIDTH] };
    if (v.cross) sizes.context = [b!, kl, CONTEXT_WIDTH];
    if (v.mask === 'input') sizes.mask = [b!, 1, l!, kl];
    return randomFeeds(plain, sizes);
  });
}

/**
 * One MultiHeadAttention (scale 1/√d) over the three projections, nothing else left but them (the
 * scale, the specs and their constants went with the chain), computing what the plain graph does:
 * fp32 on ORT's CPU provider within 1e-5 relative, at other batch and token counts when dynamic.
 */
export async function assertFusedAlone(plain: Uint8Array, v: SdpaInputs): Promise<void> {
  const { bytes, fused } = optimizeGraph(plain, 'cpu');
  assert.deepEqual(fused, { MultiHeadAttention: 1 });
  const [node] = fusedNodes(bytes);
  assert.equal(Number(node!.attribute!.find((a) => a.name === 'num_heads')!.i), HEADS);
  assert.ok(Math.abs(node!.attribute!.find((a) => a.name === 'scale')!.f! - 1 / Math.sqrt(HEAD_DIM)) < 1e-7);
  const graph = onnx.ModelProto.decode(bytes).graph!;
  assert.deepEqual((graph.node ?? []).map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
  assert.deepEqual(node!.input!.slice(0, 3), (graph.node ?? []).slice(0, 3).map((n) => n.output![0]));
  if (v.mask) assert.equal(node!.input![5], v.mask === 'input' ? 'mask' : graph.initializer!.find((t) => t.name!.startsWith('mask'))!.name);
  // Only the weights (and a constant mask) are left of the initializers.
  assert.ok((graph.initializer ?? []).every((t) => t.name!.startsWith('w') || t.name!.startsWith('mask')), (graph.initializer ?? []).map((t) => t.name).join());
  for (const feeds of v.dynamic ? dynamicFeeds(plain, v) : [randomFeeds(plain)]) {
    for (const d of await compareRuns(plain, bytes, feeds)) assert.ok(d.maxAbsDifference <= 1e-5 * d.scale, JSON.stringify(d));
  }
}

/** The optimizer leaves `plain` as it was: the very same bytes, nothing fused. */
export function assertUnchanged(plain: Uint8Array): void {
  const result = optimizeGraph(plain, 'cpu');
  assert.equal(result.bytes, plain);
  assert.deepEqual(result.fused, {});
}
