/**
 * BiasSplitGelu and BiasAdd in standard ONNX, from their definitions in ONNX Runtime's
 * docs/ContribOperators.md, for expandContribOps: the CPU provider has no kernel for either.
 */
import type { Expansion, ExpansionBuilder } from './contrib-reference.js';
import onnxProto from 'onnx-proto';

type Node = onnxProto.onnx.INodeProto;

/** A scalar of the data's own type (float32 or float16). */
function scalarLike(build: ExpansionBuilder, value: number, like: string): string {
  return build.node('CastLike', [build.constant([value], []), like]);
}

/**
 * BiasSplitGelu(X [N, S, D], bias [D]) → Y [N, S, D/2]: the sum X + bias cut in two halves along
 * the last axis, left · GELU(right), with GELU(v) = v · 0.5 · (1 + erf(v / √2)).
 */
export const referenceBiasSplitGelu: Expansion = (fused: Node, build) => {
  const [x, bias] = fused.input as [string, string];
  const sum = build.node('Add', [x, bias]);
  const halves = [`${fused.name}__left`, `${fused.name}__right`];
  // Opset 17's Split without sizes cuts into as many equal parts as it has outputs.
  build.node('Split', [sum], [{ name: 'axis', type: onnxProto.onnx.AttributeProto.AttributeType.INT, i: -1 }], halves);
  const [left, right] = halves as [string, string];
  const erf = build.node('Erf', [build.node('Div', [right, scalarLike(build, Math.SQRT2, x)])]);
  const gelu = build.node('Mul', [build.node('Mul', [right, scalarLike(build, 0.5, x)]), build.node('Add', [erf, scalarLike(build, 1, x)])]);
  build.node('Mul', [left, gelu], [], [fused.output![0]!]);
};

/** BiasAdd(X [N, S, C], bias [C], skip [N, S, C]) → Y = X + bias + skip. */
export const referenceBiasAdd: Expansion = (fused: Node, build) => {
  const [x, bias, skip] = fused.input as [string, string, string];
  build.node('Add', [build.node('Add', [x, bias]), skip], [], [fused.output![0]!]);
};
