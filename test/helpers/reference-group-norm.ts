/**
 * com.microsoft GroupNorm and SkipGroupNorm in standard ONNX, from their definitions in ONNX
 * Runtime's docs/ContribOperators.md: X is NHWC (channels_last=1; the only layout the CUDA
 * kernel runs), each (n, group) is normalized over H, W and the group's C/groups channels,
 * y = (x − mean) / √(var + epsilon) · gamma + beta per channel, then y · sigmoid(y) when
 * activation = 1. SkipGroupNorm first forms S = X + skip (+ bias) and normalizes S; this spells
 * out the per-sample skip, (N, C) or (N, 1, 1, C), the form the optimizer writes. Computed in
 * float32 whatever X is, as the kernel does, and cast back to X's type.
 */
import onnxProto from 'onnx-proto';

import { attributeOf, type Expansion, type ExpansionBuilder, INT, INTS } from './contrib-reference.js';

const FLOAT32 = 1;

export const referenceGroupNorm: Expansion = (fused, build) => {
  const [x, gamma, beta] = fused.input ?? [];
  normalize(fused, build, x!, gamma!, beta!, x!);
};

export const referenceSkipGroupNorm: Expansion = (fused, build) => {
  const [x, gamma, beta, skip, bias] = fused.input ?? [];
  const n = build.node.bind(build);
  const xShape = n('Shape', [x!]);
  // (N, C) → (N, 1, 1, C), so it adds per sample and channel rather than broadcasting from the right.
  const perSample = n('Reshape', [skip!, n('Concat', [n('Slice', [xShape, build.constant([0], [1], 'int64'), build.constant([1], [1], 'int64')]), build.constant([1, 1, -1], [3], 'int64')], [{ name: 'axis', type: INT, i: 0 }])]);
  const summed = n('Add', [x!, perSample]);
  const sum = bias ? n('Add', [summed, bias]) : summed;
  if (fused.output?.[1]) n('Identity', [sum], [], [fused.output[1]]);
  normalize(fused, build, sum, gamma!, beta!, x!);
};

function normalize(fused: onnxProto.onnx.INodeProto, build: ExpansionBuilder, x: string, gamma: string, beta: string, like: string): void {
  const groups = Number(attributeOf(fused, 'groups')?.i);
  const epsilon = attributeOf(fused, 'epsilon')?.f ?? 1e-5;
  const activation = Number(attributeOf(fused, 'activation')?.i);
  if (Number(attributeOf(fused, 'channels_last')?.i ?? 1) !== 1) throw new Error('the reference spells out channels_last=1 only');
  const n = build.node.bind(build);
  const nchw = n('Transpose', [n('Cast', [x], [{ name: 'to', type: INT, i: FLOAT32 }])], [{ name: 'perm', type: INTS, ints: [0, 3, 1, 2] }]);
  // [N, G, C/G·H·W]: one row per (n, group); GlobalAveragePool averages each row over its last axis.
  const rows = n('Reshape', [nchw, build.constant([0, groups, -1], [3], 'int64')]);
  const centred = n('Sub', [rows, n('GlobalAveragePool', [rows])]);
  const variance = n('GlobalAveragePool', [n('Mul', [centred, centred])]);
  const normalized = n('Div', [centred, n('Sqrt', [n('Add', [variance, build.constant([epsilon], [])])])]);
  const perChannel = (v: string) => n('Reshape', [n('Cast', [v], [{ name: 'to', type: INT, i: FLOAT32 }]), build.constant([-1, 1, 1], [3], 'int64')]);
  const affine = n('Add', [n('Mul', [n('Reshape', [normalized, n('Shape', [nchw])]), perChannel(gamma)]), perChannel(beta)]);
  const activated = activation === 1 ? n('Mul', [affine, n('Sigmoid', [affine])]) : affine;
  n('CastLike', [n('Transpose', [activated], [{ name: 'perm', type: INTS, ints: [0, 2, 3, 1] }]), like], [], [fused.output![0]!]);
}
