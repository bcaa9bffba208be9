/**
 * F.scaled_dot_product_attention as torch ≥ 2.9's default (dynamo) exporter lowers it: onnxscript
 * torch_lib's aten_scaled_dot_product_attention below opset 23. The scale is Shape(q) → Gather
 * [-1] → CastLike(·, q), 1.0 CastLike'd to q divided by its Sqrt, and CastLike'd to q once more;
 * its square root multiplies q, and kᵀ (through a CastLike like kᵀ when there is no mask). kᵀ is
 * no one Transpose: k [B, h, L, d] is reshaped to [-1, L, d], transposed [0, 2, 1] and reshaped
 * back to [B, h, d, L], both specs a Concat of pieces of Shape(k) (Slices of it in onnxscript,
 * Shape start/end in torch's own copy). A Dropout of ratio dropout_p (0.0) always follows the
 * Softmax, its mask output unused. Torch here cannot export, so the graphs are written as that
 * lowering writes them, around diffusers' AttnProcessor2_0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import onnxProto from 'onnx-proto';

import { scalarValue } from '../../src/diffusion/graph-optimizer/computed-scale.js';
import { GraphIndex } from '../../src/diffusion/graph-optimizer/graph-index.js';
import { optimizeGraph } from '../../src/diffusion/graph-optimizer/index.js';
import { decodeModel } from '../../src/diffusion/graph-optimizer/model-proto.js';
import { inferShapes } from '../../src/diffusion/graph-optimizer/static-shapes.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';
import { assertFusedAlone, assertUnchanged, attentionProjections, BATCH, HEAD_DIM, HEADS, LQ, type SdpaInputs, WIDTH } from '../helpers/sdpa-fusion.js';

const { onnx } = onnxProto;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** `dynamic`: batch and lengths left to run time, the head split and merge specs computed from Shape; `mask`: an additive float mask, the input [B, 1, Lq, Lk] or a constant [1, 1, Lq, Lk]. */
interface DynamoVariant extends SdpaInputs {
  /** How k's sizes are read for kᵀ: Slices of one Shape (onnxscript), or Shape start/end (torch's _torchlib copy). */
  keyShape?: 'slice' | 'shape-range';
  /** kᵀ's two specs as the constants an exporter's constant folding leaves of them when the sizes are static. */
  constantSpecs?: boolean;
  /** The whole graph in float16 (the CastLikes then cast to float16, the query's type). */
  half?: boolean;
  /** Near misses and other Dropouts: the ratio (0 when absent), and training_mode written as a constant. */
  dropoutRatio?: number;
  training?: boolean;
  /** Near miss: kᵀ's first Reshape to [-1, d, L] (a reinterpretation, not a transpose), the rest as written. */
  wrongFold?: boolean;
  /** Near miss: kᵀ's second Reshape to [h, B, d, L] (batch and heads unfolded the wrong way round). */
  wrongUnfold?: boolean;
  /** Near miss: the scale CastLike'd to an integer tensor (the query's Shape) and back to float, truncated to 0. */
  integerCastLike?: boolean;
  /** Near miss: the Dropout's mask output read by a graph output. */
  exposeDropoutMask?: boolean;
}

function boolConstant(g: GraphBuilder, value: boolean): string {
  return g.node('Constant', [], { value: { tensor: { dataType: DataType.BOOL, dims: [], rawData: Uint8Array.of(value ? 1 : 0) } } });
}

/** kᵀ's two specs from Shape(k), [-1, L, d] and [B, h, d, L], as torch_lib computes them (or wrongly, for the near misses). */
function keyTransposeSpecs(g: GraphBuilder, key: string, v: DynamoVariant): [string, string] {
  const slice = (shape: string, start: bigint, end: bigint) => g.node('Slice', [shape, g.initializer('start', BigInt64Array.of(start), [1]), g.initializer('end', BigInt64Array.of(end), [1])]);
  const keyShape = v.keyShape === 'shape-range' ? undefined : g.node('Shape', [key]);
  const [last, secondLast] = keyShape ? [slice(keyShape, -1n, INT64_MAX), slice(keyShape, -2n, -1n)] : [g.node('Shape', [key], { start: -1 }), g.node('Shape', [key], { start: -2, end: -1 })];
  const first = v.wrongUnfold
    ? g.node('Concat', [g.node('Shape', [key], { start: 1, end: 2 }), g.node('Shape', [key], { start: 0, end: 1 })], { axis: 0 })
    : keyShape
      ? slice(keyShape, INT64_MIN, -2n)
      : g.node('Shape', [key], { end: -2 });
  const fold = g.node('Concat', v.wrongFold ? [g.int64s('minus_one', [-1]), last, secondLast] : [g.int64s('minus_one', [-1]), secondLast, last], { axis: 0 });
  return [fold, g.node('Concat', [first, last, secondLast], { axis: 0 })];
}

/** AttnProcessor2_0 on x [2, 5, 8] (or over a context [2, 3, 6]) with 2 heads, as torch_lib lowers its SDPA, changed by `v`. */
function dynamoModel(v: DynamoVariant = {}): Uint8Array {
  const g = new GraphBuilder('sdpa_dynamo');
  const { keyLength, source, q, k, val, scalar, size, spec } = attentionProjections(g, v);
  const splitSpec = () => (v.dynamic ? spec(size(source, 0), scalar(-1), scalar(HEADS), scalar(HEAD_DIM)) : g.int64s('split', [BATCH, -1, HEADS, HEAD_DIM]));
  const heads = (projection: string) => g.node('Transpose', [g.node('Reshape', [projection, splitSpec()])], { perm: [0, 2, 1, 3] });
  const [query, key, value] = [heads(q), heads(k), heads(val)];

  // _attention_scale, then CastLike(scale, query).
  const qLast = g.node('Gather', [g.node('Shape', [query]), g.int64s('at', [-1])], { axis: 0 });
  const oneByRoot = g.node('Div', [g.node('CastLike', [g.floats('one', [1], []), query]), g.node('Sqrt', [g.node('CastLike', [qLast, query])])]);
  let scale = g.node('CastLike', [oneByRoot, query]);
  if (v.integerCastLike) scale = g.node('Cast', [g.node('CastLike', [scale, g.node('Shape', [query])])], { to: DataType.FLOAT });

  // kᵀ: fold the leading axes, swap the last two with a static perm, unfold.
  const [foldSpec, unfoldSpec] = v.constantSpecs ? [g.int64s('fold', [-1, keyLength as number, HEAD_DIM]), g.int64s('unfold', [BATCH, HEADS, HEAD_DIM, keyLength as number])] : keyTransposeSpecs(g, key, v);
  const keyT = g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [key, foldSpec])], { perm: [0, 2, 1] }), unfoldSpec]);

  const scaledQ = g.node('Mul', [query, g.node('Sqrt', [scale])]);
  const scaledK = g.node('Mul', [keyT, v.mask ? g.node('Sqrt', [scale]) : g.node('CastLike', [g.node('Sqrt', [scale]), keyT])]);
  let scores = g.node('MatMul', [scaledQ, scaledK]);
  if (v.mask === 'input') scores = g.node('Add', [scores, g.input('mask', DataType.FLOAT, v.dynamic ? ['batch', 1, 'tokens', keyLength] : [BATCH, 1, LQ, keyLength])]);
  if (v.mask === 'constant') {
    const count = LQ * (keyLength as number);
    scores = g.node('Add', [scores, g.floats('mask', Array.from({ length: count }, (_, i) => -0.5 * (i % 3)), [1, 1, LQ, keyLength as number])]);
  }
  const probabilities = g.node('Softmax', [scores], { axis: -1 });
  const dropoutInputs = [probabilities, g.floats('dropout_p', [v.dropoutRatio ?? 0], [])];
  if (v.training !== undefined) dropoutInputs.push(boolConstant(g, v.training));
  const [dropped, dropMask] = g.nodeMulti('Dropout', dropoutInputs, 2);
  if (v.exposeDropoutMask) g.output(dropMask!, DataType.BOOL, v.dynamic ? ['batch', HEADS, 'tokens', keyLength] : [BATCH, HEADS, LQ, keyLength]);
  const attended = g.node('MatMul', [dropped!, value]);
  const mergeSpec = v.dynamic ? spec(size(source, 0), scalar(-1), scalar(WIDTH)) : g.int64s('merge', [BATCH, -1, WIDTH]);
  g.node('Reshape', [g.node('Transpose', [attended], { perm: [0, 2, 1, 3] }), mergeSpec], {}, ['out']);
  g.output('out', DataType.FLOAT, v.dynamic ? ['batch', 'tokens', WIDTH] : [BATCH, LQ, WIDTH]);
  if (v.half) g.halfPrecisionCompute();
  return g.encode();
}

describe('SDPA as torch ≥ 2.9 (dynamo, onnxscript torch_lib) exports it', () => {
  const fusing: [string, DynamoVariant][] = [
    ['self-attention', {}],
    ['cross-attention', { cross: true }],
    ['self-attention with an additive float mask input', { mask: 'input' }],
    ['cross-attention with a constant float mask', { cross: true, mask: 'constant' }],
    ["kᵀ's sizes read by Shape start/end (torch's _torchlib)", { keyShape: 'shape-range', cross: true }],
    ['a training_mode written as a constant false', { training: false }],
    ["kᵀ's specs folded to constants", { constantSpecs: true }],
    ["kᵀ's specs folded to constants, cross-attention with a mask input", { constantSpecs: true, cross: true, mask: 'input' }],
    ['dynamic axes, self-attention', { dynamic: true }],
    ['dynamic axes, cross-attention', { dynamic: true, cross: true }],
    ['dynamic axes, cross-attention with a mask input', { dynamic: true, cross: true, mask: 'input' }],
    ['dynamic axes, self-attention with a mask input, Shape start/end', { dynamic: true, mask: 'input', keyShape: 'shape-range' }],
  ];
  for (const [label, variant] of fusing) it(`fuses ${label} into one MultiHeadAttention with scale 1/√d`, () => assertFusedAlone(dynamoModel(variant), variant));

  const nearMisses: [string, DynamoVariant][] = [
    ['a Dropout of ratio 0.1', { dropoutRatio: 0.1 }],
    ['a Dropout of ratio 0.1, dynamic axes', { dropoutRatio: 0.1, dynamic: true, cross: true }],
    ['a Dropout with training_mode true', { training: true }],
    ["a Dropout whose mask output is read", { exposeDropoutMask: true }],
    ["kᵀ's fold to [-1, d, L] (a reinterpretation, not a transpose)", { wrongFold: true }],
    ["kᵀ's fold to [-1, d, L], dynamic axes", { wrongFold: true, dynamic: true }],
    // With batch and heads both 2 the static form is the same tensor; left to run time, batch is not 2.
    ["kᵀ's unfold to [h, B, d, L], dynamic axes", { wrongUnfold: true, dynamic: true, keyShape: 'shape-range' }],
    ['the scale CastLike to an integer target (truncating it)', { integerCastLike: true }],
  ];
  for (const [label, variant] of nearMisses) {
    it(`leaves ${label} as it was (the same bytes)`, () => assertUnchanged(dynamoModel(variant)));
  }

  it('fuses the float16 form (every CastLike to float16, as the query is) at 1/√d to half precision', () => {
    for (const variant of [{ half: true }, { half: true, dynamic: true, cross: true, mask: 'input' as const }]) {
      const { bytes, fused } = optimizeGraph(dynamoModel(variant), 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: 1 });
      const graph = onnx.ModelProto.decode(bytes).graph!;
      // √scale reaches kᵀ through a CastLike to float16 (0.70703125), so the product is 1/√d to half precision, not exactly.
      const scale = graph.node!.find((n) => n.opType === 'MultiHeadAttention')!.attribute!.find((a) => a.name === 'scale')!.f!;
      assert.ok(Math.abs(scale * Math.sqrt(HEAD_DIM) - 1) <= 2 ** -10, String(scale));
      assert.deepEqual(graph.node!.map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
    }
  });

  it('evaluates a CastLike as a Cast to its target type only when that type is provably known', () => {
    const g = new GraphBuilder('castlike');
    const x = g.input('x', DataType.FLOAT, ['batch', 'tokens', 16]);
    const h = g.input('h', DataType.FLOAT16, ['batch', 16]);
    const last = g.node('Gather', [g.node('Shape', [x]), g.int64s('at', [-1])], { axis: 0 });
    const third = g.node('Div', [g.floats('one', [1], []), g.floats('three', [3], [])]);
    // Declared float, float by a MatMul of a float input, float16 by a Cast and by a declared input.
    g.node('CastLike', [third, x], {}, ['like_input']);
    g.node('CastLike', [third, g.node('Transpose', [g.node('MatMul', [x, g.floats('w', new Array(16).fill(0.5), [16, 1])])], { perm: [0, 2, 1] })], {}, ['like_matmul']);
    g.node('CastLike', [third, g.node('Cast', [x], { to: DataType.FLOAT16 })], {}, ['like_cast']);
    g.node('CastLike', [third, h], {}, ['like_half_input']);
    g.node('Sqrt', [g.node('CastLike', [last, x])], {}, ['root']);
    // Integer targets truncate; an op whose type is not followed (Where) leaves it unknown; a fraction then proves nothing.
    g.node('CastLike', [third, g.node('Shape', [x])], {}, ['like_shape']);
    g.node('CastLike', [third, g.node('Where', [g.input('c', DataType.BOOL, [1]), x, x])], {}, ['like_unknown']);
    const index = new GraphIndex(decodeModel(g.encode()).graph!);
    const ctx = { index, shapes: inferShapes(index) };
    assert.equal(scalarValue('like_input', ctx), Math.fround(1 / 3));
    assert.equal(scalarValue('like_matmul', ctx), Math.fround(1 / 3));
    assert.equal(scalarValue('like_cast', ctx), 0.333251953125);
    assert.equal(scalarValue('like_half_input', ctx), 0.333251953125);
    assert.equal(scalarValue('root', ctx), 4);
    for (const name of ['like_shape', 'like_unknown']) assert.equal(scalarValue(name, ctx), undefined, name);
  });
});
