/**
 * A forward pass that knows the rank (and, where constants fix them, the sizes) of the values an
 * attention matcher looks at. ONNX Runtime's contrib attention takes 3-D [batch, length, width]
 * tensors only, and exports carry no value_info, so the rank of q, k and v must be worked out:
 * from the graph's inputs, weights and the few ops that decide a shape (Reshape, Transpose,
 * MatMul), carried through the ops that keep it. An op not listed here gives "unknown", which no
 * pattern accepts.
 */
import type { GraphIndex } from './graph-index.js';
import { intAttribute, intsAttribute } from './graph-index.js';
import type { Node } from './model-proto.js';
import { tensorDims, tensorValues } from './tensor-values.js';

/** Known sizes are numbers; undefined marks a size this pass could not fix. */
export type Dims = (number | undefined)[];

const SAME_AS_FIRST_INPUT = new Set([
  'Identity', 'Cast', 'Softmax', 'LayerNormalization', 'InstanceNormalization', 'BatchNormalization', 'Erf', 'Sigmoid', 'Tanh',
  'Relu', 'Gelu', 'Sqrt', 'Neg', 'Exp', 'Log', 'Abs', 'Reciprocal', 'Dropout', 'Trilu', 'Sin', 'Cos',
]);
/** Shape specs longer than this are not shapes. */
const MAX_SPEC_LENGTH = 8;
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Max', 'Min', 'Equal', 'Less', 'Greater']);
const SAME_RANK = new Set(['Conv', 'Resize', 'Slice', 'Split', 'ConvTranspose', 'MaxPool', 'AveragePool', 'Pad']);

export function inferShapes(index: GraphIndex): Map<string, Dims> {
  const shapes = new Map<string, Dims>();
  const declared = [...(index.graph.input ?? []), ...(index.graph.valueInfo ?? []), ...(index.graph.output ?? [])];
  for (const info of declared) {
    const dims = info.type?.tensorType?.shape?.dim;
    if (info.name && dims) shapes.set(info.name, dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : undefined)));
  }
  for (const [name, tensor] of index.initializers) shapes.set(name, tensorDims(tensor));
  for (const node of index.graph.node ?? []) {
    const inferred = inferNode(node, index, shapes);
    node.output?.forEach((output, i) => {
      // SkipLayerNormalization's fourth output, the sum it normalized, has the shape of its first.
      const dims = i === 0 || node.opType === 'Split' || (node.opType === 'SkipLayerNormalization' && i === 3) ? inferred : undefined;
      if (!output || !dims) return;
      // value_info may leave sizes symbolic that constants here fix (ONNX's inference gives up on a computed Expand shape).
      const declaredDims = shapes.get(output);
      if (!declaredDims) shapes.set(output, dims);
      else if (declaredDims.length === dims.length) shapes.set(output, declaredDims.map((d, j) => d ?? dims[j]));
    });
  }
  return shapes;
}

function inferNode(node: Node, index: GraphIndex, shapes: Map<string, Dims>): Dims | undefined {
  const inputs = (node.input ?? []).map((name) => (name ? shapes.get(name) : undefined));
  const first = inputs[0];
  if (node.domain === 'com.microsoft') return contribNode(node.opType ?? '', inputs);
  if ((node.domain ?? '') !== '') return undefined;
  const op = node.opType ?? '';
  if (op === 'Constant') {
    const tensor = index.constantTensor(node.output![0]!);
    return tensor ? tensorDims(tensor) : undefined;
  }
  if (SAME_AS_FIRST_INPUT.has(op)) return first;
  if (op === 'Concat') return concat(inputs, intAttribute(node, 'axis') ?? 0);
  // NCHW: the output's channels are the weight's first size.
  if (op === 'Conv') return first?.map((_, i) => (i === 1 ? inputs[1]?.[0] : undefined));
  if (SAME_RANK.has(op)) return first?.map(() => undefined);
  if (BROADCASTING.has(op)) return broadcast(inputs);
  if (op === 'Transpose') {
    const perm = intsAttribute(node, 'perm');
    return first && perm && perm.length === first.length ? perm.map((p) => first[p]) : undefined;
  }
  if (op === 'MatMul') return matmul(inputs[0], inputs[1]);
  if (op === 'Gemm') {
    // 2-D only: [M, K]·[K, N] → [M, N], either side transposed by its flag (torch's Linear on [B, in]).
    const [a, b] = inputs;
    if (a?.length !== 2 || b?.length !== 2) return undefined;
    return [intAttribute(node, 'transA') ? a[1] : a[0], intAttribute(node, 'transB') ? b[0] : b[1]];
  }
  if (op === 'Gather') {
    // data[:axis] + indices + data[axis + 1:], as an embedding lookup of token ids gives [B, L, width].
    const [data, indices] = inputs;
    const rawAxis = intAttribute(node, 'axis') ?? 0;
    const axis = data && rawAxis < 0 ? rawAxis + data.length : rawAxis;
    return data && indices && axis >= 0 && axis < data.length ? [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)] : undefined;
  }
  if (op === 'Shape') {
    const ranged = (node.attribute ?? []).some((a) => a.name === 'start' || a.name === 'end');
    return first && !ranged ? [first.length] : undefined;
  }
  if (op === 'Unsqueeze') {
    // Opset 13 moved the axes from an attribute to the second input.
    const axes = node.input?.[1] ? index.constantValues(node.input[1]) : intsAttribute(node, 'axes');
    return first && axes ? unsqueeze(first, axes) : undefined;
  }
  if (op === 'Expand') {
    const spec = specValues(node.input?.[1] ?? '', index);
    return first && spec ? broadcast([first, spec]) : undefined;
  }
  if (op === 'Reshape') {
    const spec = index.constantValues(node.input?.[1] ?? '');
    if (spec) return reshape(first, spec);
    // A spec computed at run time (torch's reshape(b, n, c) from Shape values) still fixes the rank.
    const specDims = inputs[1];
    return specDims?.length === 1 && specDims[0] !== undefined && specDims[0] <= MAX_SPEC_LENGTH ? new Array<undefined>(specDims[0]).fill(undefined) : undefined;
  }
  return undefined;
}

/**
 * The fused ops this optimizer writes, so a pass run after another still knows the shapes past
 * its nodes (docs/ContribOperators.md gives each output's shape).
 */
function contribNode(op: string, inputs: (Dims | undefined)[]): Dims | undefined {
  const [first, second, third] = inputs;
  switch (op) {
    // 3-D query [B, S, D] and value [B, L, Dv] give [B, S, Dv].
    case 'MultiHeadAttention': return first?.length === 3 && third?.length === 3 ? [first[0], first[1], third[2]] : undefined;
    case 'BiasSplitGelu': return first?.length === 3 ? [first[0], first[1], first[2] === undefined ? undefined : first[2] / 2] : undefined;
    case 'BiasAdd': case 'SkipLayerNormalization': return first && second ? broadcast([first, second]) : first;
    default: return undefined;
  }
}

/** Inputs of one rank joined along `axis`: that axis's size is the sum, where every input's is known. */
function concat(inputs: (Dims | undefined)[], rawAxis: number): Dims | undefined {
  const first = inputs[0];
  if (!first || inputs.some((d) => d?.length !== first.length)) return first?.map(() => undefined);
  const axis = rawAxis < 0 ? rawAxis + first.length : rawAxis;
  return first.map((_, i) => {
    if (i !== axis) return inputs.find((d) => d![i] !== undefined)?.[i];
    const sizes = inputs.map((d) => d![i]);
    return sizes.every((s) => s !== undefined) ? (sizes as number[]).reduce((a, b) => a + b, 0) : undefined;
  });
}

function unsqueeze(input: Dims, axes: number[]): Dims | undefined {
  const rank = input.length + axes.length;
  const at = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
  if (at.size !== axes.length || [...at].some((a) => a < 0 || a >= rank)) return undefined;
  const rest = [...input];
  return Array.from({ length: rank }, (_, i) => (at.has(i) ? 1 : rest.shift()));
}

/**
 * A short integer vector (an Expand's target shape) folded from constants: torch.onnx.export
 * spells expand(b, 1, n, n) as Where(Equal(shape, ConstantOfShape·-1), ConstantOfShape, shape).
 */
function specValues(value: string, index: GraphIndex, depth = 0): number[] | undefined {
  const constant = index.constantValues(value);
  if (constant) return constant.length <= MAX_SPEC_LENGTH ? constant : undefined;
  const node = index.producer.get(value);
  if (!node || (node.domain ?? '') !== '' || depth > 6) return undefined;
  const args = (node.input ?? []).map((input) => specValues(input, index, depth + 1));
  if (args.some((a) => a === undefined)) return undefined;
  const [a, b, c] = args as number[][];
  if (node.opType === 'ConstantOfShape') {
    const fill = (node.attribute ?? []).find((x) => x.name === 'value')?.t;
    const fillValue = fill ? tensorValues(fill, 1)?.[0] : 0;
    return a?.length === 1 && a[0]! <= MAX_SPEC_LENGTH && fillValue !== undefined ? new Array<number>(a[0]!).fill(fillValue) : undefined;
  }
  const elementwise = (f: (...x: number[]) => number, ...operands: number[][]): number[] | undefined => {
    const length = Math.max(...operands.map((o) => o.length));
    if (operands.some((o) => o.length !== 1 && o.length !== length)) return undefined;
    return Array.from({ length }, (_, i) => f(...operands.map((o) => o[o.length === 1 ? 0 : i]!)));
  };
  if (node.opType === 'Mul' && a && b) return elementwise((x, y) => x * y, a, b);
  if (node.opType === 'Equal' && a && b) return elementwise((x, y) => Number(x === y), a, b);
  if (node.opType === 'Where' && a && b && c) return elementwise((x, y, z) => (x ? y : z), a, b, c);
  return undefined;
}

function broadcast(inputs: (Dims | undefined)[]): Dims | undefined {
  if (inputs.length === 0 || inputs.some((d) => d === undefined)) return undefined;
  const rank = Math.max(...inputs.map((d) => d!.length));
  return Array.from({ length: rank }, (_, axis) => {
    const sizes = inputs.map((d) => (axis < rank - d!.length ? 1 : d![axis - (rank - d!.length)]));
    if (sizes.some((s) => s === undefined)) return sizes.find((s) => s !== undefined && s !== 1) ?? undefined;
    return Math.max(...(sizes as number[]));
  });
}

function matmul(a: Dims | undefined, b: Dims | undefined): Dims | undefined {
  if (!a || !b || a.length < 2 || b.length < 2) return undefined;
  const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
  return batch ? [...batch, a.at(-2), b.at(-1)] : undefined;
}

/** Reshape's output from a constant spec: 0 copies the input's size, -1 takes what is left. */
export function reshape(input: Dims | undefined, spec: number[]): Dims {
  const out: Dims = spec.map((s, i) => (s > 0 ? s : s === 0 ? input?.[i] : undefined));
  const inferred = spec.indexOf(-1);
  if (inferred >= 0 && input && input.every((d) => d !== undefined)) {
    const total = (input as number[]).reduce((x, y) => x * y, 1);
    const rest = out.reduce<number | undefined>((x, y, i) => (i === inferred || x === undefined || y === undefined ? x : x * y), 1);
    if (rest !== undefined && rest > 0 && total % rest === 0) out[inferred] = total / rest;
  }
  return out;
}
