import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import onnxProto from 'onnx-proto';

import { optimizeGraph } from '../../src/diffusion/graph-optimizer/index.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';
import { compareRuns, randomFeeds } from '../helpers/onnx-parity.js';

const { onnx } = onnxProto;
const [BATCH, LQ, LK, WIDTH, CONTEXT_WIDTH, HEADS] = [2, 5, 3, 8, 6, 2];
const HEAD_DIM = WIDTH / HEADS;

/** What to change in the plain attention, each one a way an almost-attention must not be fused. */
interface Variant {
  kPerm?: number[];
  /** A second Transpose on k after the first (torch without its peephole pass: 0,2,1,3 then 0,1,3,2). */
  kThenPerm?: number[];
  scale?: number;
  /** Divide the scores by this instead of multiplying q. */
  divideScoresBy?: number;
  softmaxAxis?: number;
  /** Also expose the scores as a graph output (another reader). */
  exposeScores?: boolean;
  /** The q split's spec, [0, 0, h, d] by default. */
  qSplit?: number[];
  /** Compute the q split's spec from Shape: its first two sizes sliced off q's shape, then [h, d]. */
  computedSplit?: boolean;
  /** Add this constant to the scores (baddbmm's zero addend when 0). */
  addToScores?: number;
  /** The addend's shape, [B, h, Lq, Lk] by default. */
  addendDims?: number[];
  /** The addend as a graph input `mask` of these sizes (a string: a symbolic size) instead of a constant. */
  addendInput?: (number | string)[];
  /** Scale the scores after the addend instead of scaling q (the mask scaled too). */
  scaleAfterAdd?: boolean;
  /** The merge's spec, [0, 0, width] by default. */
  merge?: number[];
}

/** Cross-attention of x [2, 5, 8] over context [2, 3, 6] with 2 heads, as the builder writes it, changed by `v`. */
function attentionModel(v: Variant = {}): Uint8Array {
  const g = new GraphBuilder('attention');
  const x = g.input('x', DataType.FLOAT, [BATCH, LQ, WIDTH]);
  const context = g.input('context', DataType.FLOAT, [BATCH, LK, CONTEXT_WIDTH]);
  const weight = (rows: number, seed: number) => g.floats('w', Array.from({ length: rows * WIDTH }, (_, i) => Math.sin(i * 0.7 + seed) * 0.5), [rows, WIDTH]);
  const q = g.node('MatMul', [x, weight(WIDTH, 1)]);
  const k = g.node('MatMul', [context, weight(CONTEXT_WIDTH, 2)]);
  const val = g.node('MatMul', [context, weight(CONTEXT_WIDTH, 3)]);
  const split = g.int64s('split', [0, 0, HEADS, HEAD_DIM]);
  const qSplit = v.computedSplit
    ? g.node('Concat', [g.node('Slice', [g.node('Shape', [q]), g.int64s('s', [0]), g.int64s('e', [2])]), g.int64s('hd', [HEADS, HEAD_DIM])], { axis: 0 })
    : v.qSplit ? g.int64s('qsplit', v.qSplit) : split;
  const qHeads = g.node('Transpose', [g.node('Reshape', [q, qSplit])], { perm: [0, 2, 1, 3] });
  const kFirst = g.node('Transpose', [g.node('Reshape', [k, split])], { perm: v.kPerm ?? [0, 2, 3, 1] });
  const kHeadsT = v.kThenPerm ? g.node('Transpose', [kFirst], { perm: v.kThenPerm }) : kFirst;
  const vHeads = g.node('Transpose', [g.node('Reshape', [val, split])], { perm: [0, 2, 1, 3] });
  const scaledQ = v.divideScoresBy || v.scaleAfterAdd ? qHeads : g.node('Mul', [qHeads, g.floats('scale', [v.scale ?? 1 / Math.sqrt(HEAD_DIM)], [])]);
  let scores = g.node('MatMul', [scaledQ, kHeadsT]);
  if (v.divideScoresBy) scores = g.node('Div', [scores, g.floats('divisor', [v.divideScoresBy], [])]);
  if (v.addToScores !== undefined) {
    const dims = v.addendDims ?? [BATCH, HEADS, LQ, LK];
    // Not all one value, so a wrongly broadcast bias would show in the outputs.
    const values = Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => (v.addToScores ? v.addToScores * (i % 3) : 0));
    scores = g.node('Add', [scores, g.floats('addend', values, dims)]);
  }
  if (v.addendInput) scores = g.node('Add', [scores, g.input('mask', DataType.FLOAT, v.addendInput)]);
  if (v.scaleAfterAdd) scores = g.node('Mul', [scores, g.floats('scale', [1 / Math.sqrt(HEAD_DIM)], [])]);
  if (v.exposeScores) g.output(g.alias(scores, 'scores'), DataType.FLOAT, [BATCH, HEADS, LQ, LK]);
  const probs = g.node('Softmax', [scores], { axis: v.softmaxAxis ?? -1 });
  const merged = g.node('Transpose', [g.node('MatMul', [probs, vHeads])], { perm: [0, 2, 1, 3] });
  g.node('Reshape', [merged, g.int64s('merge', v.merge ?? [0, 0, WIDTH])], {}, ['out']);
  g.output('out', DataType.FLOAT, [BATCH, LQ, WIDTH]);
  return g.encode();
}

/** What to change in the transformers CLIPAttention layout, each a way it must stay plain or still fuse. */
interface ClipVariant {
  /** The masks, added in turn, each between a Reshape of the folded scores to [B, h, Lq, Lk] and one back: a constant of these sizes, or the graph input `mask`. */
  masks: ({ constant: number[] } | { input: number[] })[];
  /** The spec of the first Reshape to the 4-D view, [B, h, Lq, Lk] by default. */
  view?: number[];
  /** Also expose q's scaled projection as a graph output (another reader). */
  exposeScaledQ?: boolean;
}

/**
 * Cross-attention of x [2, 5, 8] over context [2, 3, 6] with 2 heads as transformers' CLIPAttention
 * writes it: q's projection scaled before the split, heads folded into the batch for the two bmm,
 * each mask added in a [B, h, Lq, Lk] view of the scores.
 */
function clipAttentionModel(v: ClipVariant): Uint8Array {
  const g = new GraphBuilder('clip-attention');
  const x = g.input('x', DataType.FLOAT, [BATCH, LQ, WIDTH]);
  const context = g.input('context', DataType.FLOAT, [BATCH, LK, CONTEXT_WIDTH]);
  const weight = (rows: number, seed: number) => g.floats('w', Array.from({ length: rows * WIDTH }, (_, i) => Math.sin(i * 0.7 + seed) * 0.5), [rows, WIDTH]);
  const folded = (projection: string, length: number) =>
    g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [projection, g.int64s('split', [BATCH, length, HEADS, HEAD_DIM])])], { perm: [0, 2, 1, 3] }), g.int64s('fold', [BATCH * HEADS, -1, HEAD_DIM])]);
  const scaledQ = g.node('Mul', [g.node('MatMul', [x, weight(WIDTH, 1)]), g.floats('scale', [1 / Math.sqrt(HEAD_DIM)], [])]);
  if (v.exposeScaledQ) g.output(g.alias(scaledQ, 'scaled_q'), DataType.FLOAT, [BATCH, LQ, WIDTH]);
  const k = folded(g.node('MatMul', [context, weight(CONTEXT_WIDTH, 2)]), -1);
  const val = folded(g.node('MatMul', [context, weight(CONTEXT_WIDTH, 3)]), -1);
  let scores = g.node('MatMul', [folded(scaledQ, LQ), g.node('Transpose', [k], { perm: [0, 2, 1] })]);
  v.masks.forEach((mask, i) => {
    const view = g.node('Reshape', [scores, g.int64s('view', i === 0 && v.view ? v.view : [BATCH, HEADS, LQ, LK])]);
    const dims = 'constant' in mask ? mask.constant : mask.input;
    // Not all one value, so a wrongly broadcast bias would show in the outputs.
    const value = 'constant' in mask ? g.floats('mask', Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, j) => -0.5 * (j % 3)), dims) : g.input('mask', DataType.FLOAT, dims);
    scores = g.node('Reshape', [g.node('Add', [view, value]), g.int64s('unview', [BATCH * HEADS, LQ, LK])]);
  });
  const probs = g.node('Softmax', [scores], { axis: -1 });
  const heads = g.node('Reshape', [g.node('MatMul', [probs, val]), g.int64s('unfold', [BATCH, HEADS, LQ, HEAD_DIM])]);
  g.node('Reshape', [g.node('Transpose', [heads], { perm: [0, 2, 1, 3] }), g.int64s('merge', [BATCH, LQ, WIDTH])], {}, ['out']);
  g.output('out', DataType.FLOAT, [BATCH, LQ, WIDTH]);
  return g.encode();
}

/** What to change in the dynamic-axes form, each a spec torch could compute that does not mean the heads. */
interface DynamicVariant {
  /** The batch multiplier in the fold's spec (the head count by default). */
  foldMultiplier?: number;
  /** The axes of the projection's shape the split's batch and length are read from ([0, 1] by default). */
  splitAxes?: [number, number];
  /** Also expose the scores' shape as a graph output (a Shape reader that stays). */
  exposeScoresShape?: boolean;
  /** baddbmm's base: ConstantOfShape([B·h, Lq, Lk]) filled with this, times beta 0 when 0, added to the scores. */
  base?: number;
}

/**
 * Self-attention over x [batch, tokens, 8] (both sizes left to run time) with 2 heads folded into
 * the batch, as torch.onnx.export writes diffusers' head_to_batch_dim with dynamic axes: every
 * Reshape spec a Concat of sizes read off Shape, B·h a Mul, the head width a Div, changed by `v`.
 */
function dynamicAttentionModel(v: DynamicVariant = {}): Uint8Array {
  const g = new GraphBuilder('dynamic-attention');
  const x = g.input('x', DataType.FLOAT, ['batch', 'tokens', WIDTH]);
  const projection = (seed: number) => g.node('MatMul', [x, g.floats('w', Array.from({ length: WIDTH * WIDTH }, (_, i) => Math.sin(i * 0.7 + seed) * 0.5), [WIDTH, WIDTH])]);
  const scalar = (value: number) => g.int64s('c', [value], []);
  const size = (value: string, axis: number) => g.node('Gather', [g.node('Shape', [value]), scalar(axis)], { axis: 0 });
  const spec = (...sizes: string[]) => g.node('Concat', sizes.map((s) => g.node('Unsqueeze', [s, g.int64s('axes', [0])])), { axis: 0 });
  const heads = scalar(HEADS);
  const folded = (p: string) => {
    const [batch, length] = v.splitAxes ?? [0, 1];
    const width = g.node('Div', [size(p, 2), heads]);
    const split = g.node('Reshape', [p, spec(size(p, batch), size(p, length), heads, width)]);
    const batchTimesHeads = g.node('Mul', [size(p, 0), scalar(v.foldMultiplier ?? HEADS)]);
    return g.node('Reshape', [g.node('Transpose', [split], { perm: [0, 2, 1, 3] }), spec(batchTimesHeads, scalar(-1), width)]);
  };
  const [q, k] = [folded(projection(1)), folded(projection(2))];
  let scores = g.node('Mul', [g.node('MatMul', [q, g.node('Transpose', [k], { perm: [0, 2, 1] })]), g.floats('scale', [1 / Math.sqrt(HEAD_DIM)], [])]);
  if (v.base !== undefined) {
    // As the dynamic export writes baddbmm(empty, q, kᵀ, beta=0): its base sized off q and k at run time.
    const base = g.node('ConstantOfShape', [spec(size(q, 0), size(q, 1), size(k, 1))], { value: { tensor: { dataType: DataType.FLOAT, dims: [1], floatData: [v.base] } } });
    scores = g.node('Add', [scores, v.base === 0 ? g.node('Mul', [base, g.floats('beta', [0], [])]) : base]);
  }
  if (v.exposeScoresShape) {
    g.node('Shape', [scores], {}, ['scores_shape']);
    g.output('scores_shape', DataType.INT64, [3]);
  }
  const pv = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), folded(projection(3))]);
  const batch = g.node('Div', [size(pv, 0), heads]);
  const heads4d = g.node('Reshape', [pv, spec(batch, heads, size(pv, 1), size(pv, 2))]);
  g.node('Reshape', [g.node('Transpose', [heads4d], { perm: [0, 2, 1, 3] }), spec(batch, size(pv, 1), g.node('Mul', [size(pv, 2), heads]))], {}, ['out']);
  g.output('out', DataType.FLOAT, ['batch', 'tokens', WIDTH]);
  return g.encode();
}

/** A near miss: the optimizer must hand back the very bytes it was given, having fused nothing. */
function assertLeftAsItWas(plain: Uint8Array, target: Parameters<typeof optimizeGraph>[1]): void {
  const result = optimizeGraph(plain, target);
  assert.equal(result.bytes, plain);
  assert.deepEqual(result.fused, {});
}

function fusedNodes(bytes: Uint8Array) {
  return (onnx.ModelProto.decode(bytes).graph!.node ?? []).filter((n) => n.opType === 'MultiHeadAttention');
}

describe('attention matcher', () => {
  it('fuses the plain form into one MultiHeadAttention over the projections, with the graph’s scale', async () => {
    const plain = attentionModel();
    const { bytes, fused } = optimizeGraph(plain, 'cpu');
    assert.deepEqual(fused, { MultiHeadAttention: 1 });
    const [node] = fusedNodes(bytes);
    assert.equal(node!.domain, 'com.microsoft');
    assert.equal(node!.output![0], 'out');
    assert.equal(Number(node!.attribute!.find((a) => a.name === 'num_heads')!.i), HEADS);
    assert.ok(Math.abs(node!.attribute!.find((a) => a.name === 'scale')!.f! - 0.5) < 1e-7);
    // Only the three projections and the output remain around it.
    assert.deepEqual((onnx.ModelProto.decode(bytes).graph!.node ?? []).map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
    for (const d of await compareRuns(plain, bytes, randomFeeds(plain))) assert.ok(d.maxAbsDifference <= 1e-5 * d.scale, JSON.stringify(d));
  });

  it('fuses the scores divided by √d, a named batch and length in the specs, and a split spec computed from Shape', () => {
    assert.deepEqual(optimizeGraph(attentionModel({ divideScoresBy: 2 }), 'cpu').fused, { MultiHeadAttention: 1 });
    assert.deepEqual(optimizeGraph(attentionModel({ computedSplit: true }), 'cpu').fused, { MultiHeadAttention: 1 });
    assert.deepEqual(optimizeGraph(attentionModel({ qSplit: [BATCH, LQ, HEADS, HEAD_DIM], merge: [BATCH, -1, WIDTH] }), 'cpu').fused, { MultiHeadAttention: 1 });
  });

  it('fuses k transposed in two steps that compose to [B, h, d, L], and not in two that do not', () => {
    assert.deepEqual(optimizeGraph(attentionModel({ kPerm: [0, 2, 1, 3], kThenPerm: [0, 1, 3, 2] }), 'cpu').fused, { MultiHeadAttention: 1 });
    const wrong = attentionModel({ kPerm: [0, 2, 1, 3], kThenPerm: [0, 2, 1, 3] });
    assert.equal(optimizeGraph(wrong, 'cpu').bytes, wrong);
  });

  it('fuses an all-zero addend (baddbmm with beta 0) away, with no attention_bias', () => {
    const { bytes, fused } = optimizeGraph(attentionModel({ addToScores: 0 }), 'cpu');
    assert.deepEqual(fused, { MultiHeadAttention: 1 });
    assert.equal(fusedNodes(bytes)[0]!.input!.length, 3);
  });

  const masks: [string, Variant, string][] = [
    ['a [B, h, Lq, Lk] constant', { addToScores: -0.5 }, 'initializer'],
    ['a [1, 1, Lq, Lk] constant', { addToScores: -0.5, addendDims: [1, 1, LQ, LK] }, 'initializer'],
    ['a [B, 1, Lq, Lk] input', { addendInput: [BATCH, 1, LQ, LK] }, 'input'],
    ['an [Lq, Lk] constant, expanded to 4-D', { addToScores: -0.5, addendDims: [LQ, LK] }, 'Expand'],
    ['a [1, Lq, Lk] constant, expanded to 4-D', { addToScores: -0.5, addendDims: [1, LQ, LK] }, 'Expand'],
  ];
  for (const [label, variant, producer] of masks) {
    it(`fuses a mask added to the scaled scores as attention_bias: ${label}`, async () => {
      const plain = attentionModel(variant);
      const { bytes, fused } = optimizeGraph(plain, 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: 1 });
      const graph = onnx.ModelProto.decode(bytes).graph!;
      const [node] = fusedNodes(bytes);
      assert.deepEqual(node!.input!.slice(3, 5), ['', '']);
      const bias = node!.input![5]!;
      const made = (graph.node ?? []).find((n) => n.output?.includes(bias));
      const initializer = (graph.initializer ?? []).some((t) => t.name === bias);
      assert.equal(made?.opType ?? (bias === 'mask' ? 'input' : initializer ? 'initializer' : undefined), producer, bias);
      assert.equal((graph.node ?? []).filter((n) => n.opType === 'Softmax' || n.opType === 'Add').length, 0);
      for (const d of await compareRuns(plain, bytes, randomFeeds(plain))) assert.ok(d.maxAbsDifference <= 1e-5 * d.scale, JSON.stringify(d));
    });
  }

  const nearMisses: [string, Variant][] = [
    ['k not transposed to [B, h, d, L]', { kPerm: [0, 2, 1, 3] }],
    ['a scale that is not 1/√d', { scale: 0.4 }],
    ['softmax over another axis', { softmaxAxis: 2 }],
    ['the scores read by something else too', { exposeScores: true }],
    ['a split whose heads do not fill the width', { qSplit: [0, 0, HEADS, HEAD_DIM / 2] }],
    ['a split with the head count left to -1', { qSplit: [0, 0, -1, HEAD_DIM] }],
    ['a split that names the wrong length', { qSplit: [-1, LQ + 1, HEADS, HEAD_DIM] }],
    ['a merge to another width', { merge: [0, -1, WIDTH / 2] }],
    ['a merge that leaves two sizes unchecked', { merge: [-1, LQ * 2, WIDTH] }],
    ['an addend broadcast over the key axis ([B, h, Lq, 1])', { addToScores: 0.5, addendDims: [BATCH, HEADS, LQ, 1] }],
    ['an addend broadcast over the query axis ([1, 1, 1, Lk])', { addToScores: 0.5, addendDims: [1, 1, 1, LK] }],
    ['an addend that widens the scores (rank 5)', { addToScores: 0.5, addendDims: [1, BATCH, HEADS, LQ, LK] }],
    ['an addend of another batch size', { addToScores: 0.5, addendDims: [BATCH + 1, 1, LQ, LK] }],
    ['a mask the scale applies to as well', { addToScores: -0.5, addendDims: [1, 1, LQ, LK], scaleAfterAdd: true }],
    ['a mask input of unknown sizes', { addendInput: ['batch', 1, 'rows', 'columns'] }],
  ];
  for (const [label, variant] of nearMisses) it(`leaves ${label} as it was (the same bytes)`, () => assertLeftAsItWas(attentionModel(variant), 'webgpu'));

  describe('transformers CLIPAttention layout', () => {
    const CAUSAL = { constant: [1, 1, LQ, LK] };
    const PADDING = { input: [BATCH, 1, LQ, LK] };

    it('fuses it with q’s scale taken from its projection, and the one mask as attention_bias', async () => {
      const plain = clipAttentionModel({ masks: [CAUSAL] });
      const { bytes, fused } = optimizeGraph(plain, 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: 1 });
      const graph = onnx.ModelProto.decode(bytes).graph!;
      const [node] = fusedNodes(bytes);
      assert.ok(Math.abs(node!.attribute!.find((a) => a.name === 'scale')!.f! - 0.5) < 1e-7);
      assert.ok((graph.initializer ?? []).some((t) => t.name === node!.input![5]), 'the constant mask itself is the bias');
      // The scale Mul, every Reshape and the mask Add went into the node.
      assert.deepEqual((graph.node ?? []).map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
      for (const d of await compareRuns(plain, bytes, randomFeeds(plain))) assert.ok(d.maxAbsDifference <= 1e-5 * d.scale, JSON.stringify(d));
    });

    it('sums two masks added one after the other into one attention_bias, in their order', async () => {
      const plain = clipAttentionModel({ masks: [CAUSAL, PADDING] });
      const { bytes, fused } = optimizeGraph(plain, 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: 1 });
      const graph = onnx.ModelProto.decode(bytes).graph!;
      const [node] = fusedNodes(bytes);
      const sum = (graph.node ?? []).find((n) => n.output?.includes(node!.input![5]!));
      assert.equal(sum?.opType, 'Add');
      assert.ok((graph.initializer ?? []).some((t) => t.name === sum!.input![0]), 'the constant mask first');
      assert.equal(sum!.input![1], 'mask');
      assert.deepEqual((graph.node ?? []).map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'Add', 'MultiHeadAttention']);
      for (const d of await compareRuns(plain, bytes, randomFeeds(plain))) assert.ok(d.maxAbsDifference <= 1e-5 * d.scale, JSON.stringify(d));
    });

    const clipNearMisses: [string, ClipVariant][] = [
      // B·h elements still, so the plain graph runs: only the spec says the heads are wrong.
      ['a 4-D view with the wrong head count ([1, B·h, Lq, Lk])', { masks: [CAUSAL], view: [1, BATCH * HEADS, LQ, LK] }],
      // Also runs as plain: the same elements, read as rows of the other length.
      ['a view as [B, h, Lk, Lq]', { masks: [{ constant: [1, 1, LK, LQ] }], view: [BATCH, HEADS, LK, LQ] }],
      ['a mask broadcast over the key axis ([B, 1, Lq, 1])', { masks: [{ input: [BATCH, 1, LQ, 1] }] }],
      ['a second mask broadcast over the key axis', { masks: [CAUSAL, { input: [BATCH, 1, LQ, 1] }] }],
      ['q’s scaled projection read by something else too', { masks: [CAUSAL], exposeScaledQ: true }],
    ];
    for (const [label, variant] of clipNearMisses) it(`leaves ${label} as it was (the same bytes)`, () => assertLeftAsItWas(clipAttentionModel(variant), 'cpu'));
  });

  describe('dynamic-axes specs, computed from Shape', () => {
    it('fuses when the computed sizes prove the heads, and drops the spec computations with the Reshapes', async () => {
      await assertFusedAlone(dynamicAttentionModel());
    });

    it('fuses baddbmm’s base of zeros sized off q and k at run time away, with what sized it', async () => {
      await assertFusedAlone(dynamicAttentionModel({ base: 0 }));
    });

    /** One MultiHeadAttention and the three projections left, computing the same at batch 1 and 3, 5 and 7 tokens. */
    async function assertFusedAlone(plain: Uint8Array): Promise<void> {
      const { bytes, fused } = optimizeGraph(plain, 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: 1 });
      assert.deepEqual((onnx.ModelProto.decode(bytes).graph!.node ?? []).map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
      // Not specialised to any one size: batch 1 and 3, 5 and 7 tokens.
      for (const dims of [[1, 5, WIDTH], [3, 7, WIDTH]]) {
        for (const d of await compareRuns(plain, bytes, randomFeeds(plain, { x: dims }))) assert.ok(d.maxAbsDifference <= 1e-5 * d.scale, JSON.stringify(d));
      }
    }

    const dynamicNearMisses: [string, DynamicVariant][] = [
      // Runs as plain: [B, h·L, d], the heads laid end to end along the length.
      ['a fold that multiplies the batch by 1, not the head count', { foldMultiplier: 1 }],
      // Runs as plain too: the same elements read as [L, B, h, d].
      ['a split that gathers the batch and length from each other’s axes', { splitAxes: [1, 0] }],
      ['the scores’ shape read by a node that stays', { exposeScoresShape: true }],
      // Softmax would not mind a constant shift, but it is no zero, and a [B·h, Lq, Lk] addend is no attention_bias.
      ['a base of 0.5s added to the scores', { base: 0.5 }],
    ];
    for (const [label, variant] of dynamicNearMisses) it(`leaves ${label} as it was (the same bytes)`, () => assertLeftAsItWas(dynamicAttentionModel(variant), 'cpu'));
  });

  it('says what is wrong with bytes that are not a model', () => {
    assert.throws(() => optimizeGraph(new Uint8Array([0xff, 0xff, 0xff]), 'cpu'), /not an ONNX model/);
  });
});
