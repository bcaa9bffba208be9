/**
 * F.scaled_dot_product_attention as torch 2.x's TorchScript exporter lowers it (symbolic_opset14's
 * scaled_dot_product_attention): the scale computed at run time from the query's shape (Shape →
 * Slice of the last axis → Cast → Sqrt → Div of 1 → Cast), its square root multiplied into q and
 * into kᵀ apart (two Sqrt nodes), kᵀ a Transpose of k's last two axes after the head split, an
 * additive float mask added to the product before Softmax. Torch 1.13 here has no SDPA, so the
 * graphs are written as that exporter writes them, around diffusers' AttnProcessor2_0 (view to
 * [B, -1, h, d], transpose(1, 2), and back to [B, -1, h·d]).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import onnxProto from 'onnx-proto';

import { GraphIndex } from '../../src/diffusion/graph-optimizer/graph-index.js';
import { scalarValue } from '../../src/diffusion/graph-optimizer/computed-scale.js';
import { optimizeGraph } from '../../src/diffusion/graph-optimizer/index.js';
import { decodeModel } from '../../src/diffusion/graph-optimizer/model-proto.js';
import { inferShapes } from '../../src/diffusion/graph-optimizer/static-shapes.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';
import { assertFusedAlone, assertUnchanged, attentionProjections, BATCH, fusedNodes, HEAD_DIM, HEADS, LQ, WIDTH } from '../helpers/sdpa-fusion.js';

const { onnx } = onnxProto;
const INT64_MAX = 9223372036854775807n;

interface SdpaVariant {
  /** Attend over a context [B, Lk, 6] rather than x itself. */
  cross?: boolean;
  /** Batch and lengths left to run time, every spec computed from Shape (the head width a Div of the projection's). */
  dynamic?: boolean;
  /** An additive float mask added to q·kᵀ: the graph input `mask` [B, 1, Lq, Lk], or a constant [1, 1, Lq, Lk]. */
  mask?: 'input' | 'constant';
  /**
   * How the scale is written: as symbolic_opset14 does (the default); as onnxscript's torch_lib
   * does (Gather of the last size, CastLike); as 1/√d by Reciprocal or by Pow; or a constant the
   * exporter folded (or `scale=` gave), its square root still taken in the graph.
   */
  scaleForm?: 'torchscript' | 'onnxscript' | 'reciprocal' | 'pow' | 'constant';
  /** kᵀ as one Transpose of the split k ([0, 2, 3, 1], torch's peephole pass folding the two) instead of two. */
  oneKTranspose?: boolean;
  /** Near misses: the scale read off another axis of the query's shape (-2: the sequence length). */
  scaleAxis?: number;
  /** k multiplied by the scale itself, not its square root. */
  noSqrtOnK?: boolean;
  /** The scale also read by a node that stays (a graph output). */
  exposeScale?: boolean;
  /**
   * is_causal: the mask symbolic_opset14's _causal_attention_mask builds off the Shape of q and k
   * (Expand of 1 to [Lq, Lk], Trilu, Where(Equal(·, 0), -inf, 0)). Those Shape readers stay with
   * the mask, so the chain cannot go: it must stay as it is.
   */
  causal?: boolean;
  /** The whole graph in float16, as an fp16 export computes it (the scale Cast to float16 and its Sqrt, Div in half precision). */
  half?: boolean;
}

/** AttnProcessor2_0 on x [2, 5, 8] (or over a context [2, 3, 6]) with 2 heads, as torch 2.x exports its SDPA, changed by `v`. */
function sdpaModel(v: SdpaVariant = {}): Uint8Array {
  const g = new GraphBuilder('sdpa');
  const { keyLength, source, q, k, val, scalar, size, spec } = attentionProjections(g, v);
  // batch_size off the attended states, head_dim = key.shape[-1] // heads.
  const batch = () => size(source, 0);
  const headDim = () => g.node('Div', [size(k, 2), scalar(HEADS)]);
  const splitSpec = () => (v.dynamic ? spec(batch(), scalar(-1), scalar(HEADS), headDim()) : g.int64s('split', [BATCH, -1, HEADS, HEAD_DIM]));
  const heads = (projection: string, perm = [0, 2, 1, 3]) => g.node('Transpose', [g.node('Reshape', [projection, splitSpec()])], { perm });
  const query = heads(q);
  // The key as SDPA takes it, [B, h, Lk, d] (none with kᵀ written at once).
  const key = v.oneKTranspose ? undefined : heads(k);
  const keyT = key ? g.node('Transpose', [key], { perm: [0, 1, 3, 2] }) : heads(k, [0, 2, 3, 1]);
  const value = heads(val);

  const scale = sdpaScale(g, query, v);
  if (v.exposeScale) g.output(g.alias(scale, 'scale'), DataType.FLOAT, [1]);
  const scaledQ = g.node('Mul', [query, g.node('Sqrt', [scale])]);
  const scaledK = g.node('Mul', [keyT, v.noSqrtOnK ? scale : g.node('Sqrt', [scale])]);
  let scores = g.node('MatMul', [scaledQ, scaledK]);
  if (v.causal) {
    const length = (value: string) => g.node('Slice', [g.node('Shape', [value]), g.int64s('start', [-2]), g.int64s('end', [-1])]);
    const ones = g.node('Trilu', [g.node('Expand', [g.floats('one', [1], [1]), g.node('Concat', [length(query), length(key!)], { axis: 0 })])], { upper: 0 });
    scores = g.node('Add', [scores, g.node('Where', [g.node('Equal', [ones, g.floats('zero', [0], [1])]), g.floats('neg_inf', [-Infinity], [1]), g.floats('zero', [0], [1])])]);
  }
  if (v.mask === 'input') scores = g.node('Add', [scores, g.input('mask', DataType.FLOAT, v.dynamic ? ['batch', 1, 'tokens', keyLength] : [BATCH, 1, LQ, keyLength])]);
  if (v.mask === 'constant') {
    // Not all one value, so a wrongly broadcast bias would show in the outputs.
    const count = LQ * (keyLength as number);
    scores = g.node('Add', [scores, g.floats('mask', Array.from({ length: count }, (_, i) => -0.5 * (i % 3)), [1, 1, LQ, keyLength as number])]);
  }
  const attended = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), value]);
  const mergeSpec = v.dynamic ? spec(batch(), scalar(-1), g.node('Mul', [scalar(HEADS), headDim()])) : g.int64s('merge', [BATCH, -1, WIDTH]);
  g.node('Reshape', [g.node('Transpose', [attended], { perm: [0, 2, 1, 3] }), mergeSpec], {}, ['out']);
  g.output('out', DataType.FLOAT, v.dynamic ? ['batch', 'tokens', WIDTH] : [BATCH, LQ, WIDTH]);
  if (v.half) g.halfPrecisionCompute();
  return g.encode();
}

/** The scale, 1/√(the query's last size), in the form `v` asks for. */
function sdpaScale(g: GraphBuilder, query: string, v: SdpaVariant): string {
  const axis = v.scaleAxis ?? -1;
  const one = () => g.floats('one', [1], [1]);
  switch (v.scaleForm ?? 'torchscript') {
    case 'torchscript': {
      const last = g.node('Slice', [g.node('Shape', [query]), g.int64s('start', [axis]), axis === -1 ? g.initializer('end', BigInt64Array.of(INT64_MAX), [1]) : g.int64s('end', [axis + 1])]);
      const scale = g.node('Div', [one(), g.node('Sqrt', [g.node('Cast', [last], { to: DataType.FLOAT })])]);
      return g.node('Cast', [scale], { to: DataType.FLOAT });
    }
    case 'onnxscript': {
      const last = g.node('Gather', [g.node('Shape', [query]), g.int64s('at', [axis])], { axis: 0 });
      return g.node('Div', [g.node('CastLike', [g.floats('one', [1], []), query]), g.node('Sqrt', [g.node('CastLike', [last, query])])]);
    }
    case 'reciprocal':
      return g.node('Reciprocal', [g.node('Sqrt', [g.node('Cast', [g.node('Gather', [g.node('Shape', [query]), g.int64s('at', [axis])], { axis: 0 })], { to: DataType.FLOAT })])]);
    case 'pow':
      return g.node('Pow', [g.node('Cast', [g.node('Gather', [g.node('Shape', [query]), g.int64s('at', [axis])], { axis: 0 })], { to: DataType.FLOAT }), g.floats('half', [-0.5], [])]);
    case 'constant':
      return g.floats('scale', [1 / Math.sqrt(HEAD_DIM)], [1]);
  }
}

describe('SDPA as torch 2.x exports it', () => {
  const fusing: [string, SdpaVariant][] = [
    ['self-attention', {}],
    ['cross-attention', { cross: true }],
    ['self-attention with an additive float mask input', { mask: 'input' }],
    ['cross-attention with a constant float mask', { cross: true, mask: 'constant' }],
    ['kᵀ as one Transpose', { oneKTranspose: true }],
    ['the scale as onnxscript writes it (Gather, CastLike)', { scaleForm: 'onnxscript' }],
    ['the scale as a Reciprocal', { scaleForm: 'reciprocal' }],
    ['the scale as a Pow by -0.5', { scaleForm: 'pow' }],
    ['a constant scale, its square root taken in the graph', { scaleForm: 'constant', cross: true }],
    ['dynamic axes, self-attention', { dynamic: true }],
    ['dynamic axes, cross-attention with a mask input', { dynamic: true, cross: true, mask: 'input' }],
    ['dynamic axes, the scale as onnxscript writes it', { dynamic: true, scaleForm: 'onnxscript', cross: true }],
  ];
  for (const [label, variant] of fusing) it(`fuses ${label} into one MultiHeadAttention with scale 1/√d`, () => assertFusedAlone(sdpaModel(variant), variant));

  it('fuses the float16 form, its scale cast to float16 as the query is, at 1/√d', () => {
    for (const variant of [{ half: true }, { half: true, dynamic: true, cross: true, mask: 'input' as const }]) {
      const { bytes, fused } = optimizeGraph(sdpaModel(variant), 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: 1 });
      assert.equal(fusedNodes(bytes)[0]!.attribute!.find((a) => a.name === 'scale')!.f, 1 / Math.sqrt(HEAD_DIM));
      assert.deepEqual((onnx.ModelProto.decode(bytes).graph!.node ?? []).map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
    }
  });

  const nearMisses: [string, SdpaVariant][] = [
    // 1/√5 is a number too, just not 1/√d: the scale is proven, and proven wrong.
    ['a scale read off the sequence length', { scaleAxis: -2 }],
    ['a scale read off the sequence length, left to run time', { scaleAxis: -2, dynamic: true }],
    ['a scale read off the head count (axis 1)', { scaleAxis: 1, scaleForm: 'reciprocal' }],
    ['k multiplied by the scale, not its square root', { noSqrtOnK: true }],
    ['the scale also read by a node that stays', { exposeScale: true }],
    ['the scale also read by a node that stays, dynamic axes', { exposeScale: true, dynamic: true, cross: true }],
    ['the onnxscript scale also read by a node that stays (its CastLike of the query stays too)', { exposeScale: true, scaleForm: 'onnxscript' }],
    ['is_causal, its mask sized off the Shape of q and k', { causal: true }],
    ['is_causal with dynamic axes', { causal: true, dynamic: true }],
  ];
  for (const [label, variant] of nearMisses) {
    it(`leaves ${label} as it was (the same bytes)`, () => assertUnchanged(sdpaModel(variant)));
  }

  it('evaluates only single-element float arithmetic of known sizes', () => {
    const g = new GraphBuilder('scalars');
    const x = g.input('x', DataType.FLOAT, ['batch', 'tokens', 16]);
    const last = g.node('Gather', [g.node('Shape', [x]), g.int64s('at', [-1])], { axis: 0 });
    const asFloat = (value: string, to: number = DataType.FLOAT) => g.node('Cast', [value], { to });
    g.node('Div', [g.floats('one', [1], []), g.node('Sqrt', [asFloat(last)])], {}, ['quarter']);
    g.node('Cast', [g.node('Div', [g.floats('one', [1], []), g.node('Sqrt', [asFloat(last)])])], { to: DataType.FLOAT16 }, ['half_precision']);
    g.node('Pow', [asFloat(last), g.floats('e', [-0.25], [])], {}, ['fourth_root']);
    // The length is left to run time, an integer Cast truncates, an exponent that is no constant is not taken.
    g.node('Sqrt', [asFloat(g.node('Gather', [g.node('Shape', [x]), g.int64s('at', [1])], { axis: 0 }))], {}, ['length']);
    g.node('Cast', [g.node('Sqrt', [asFloat(last)])], { to: DataType.INT64 }, ['truncated']);
    g.node('Pow', [g.floats('two', [2], []), asFloat(last)], {}, ['run_time_exponent']);
    // A one-element tensor of rank 2 would widen what it multiplies.
    g.node('Sqrt', [g.floats('matrix', [4], [1, 1])], {}, ['rank_two']);
    g.node('Sqrt', [g.floats('negative', [-4], [])], {}, ['negative']);
    const index = new GraphIndex(decodeModel(g.encode()).graph!);
    const ctx = { index, shapes: inferShapes(index) };
    assert.equal(scalarValue('quarter', ctx), 0.25);
    assert.equal(scalarValue('half_precision', ctx), 0.25);
    assert.equal(scalarValue('fourth_root', ctx), 0.5);
    for (const name of ['length', 'truncated', 'run_time_exponent', 'rank_two', 'negative']) assert.equal(scalarValue(name, ctx), undefined, name);
  });
});
