/**
 * A forward pass that knows the rank (and, where constants fix them, the sizes) of the values an
 * attention matcher looks at. ONNX Runtime's contrib attention takes 3-D [batch, length, width]
 * tensors only, and exports carry no value_info, so the rank of q, k and v must be worked out:
 * from the graph's inputs, weights and the few ops that decide a shape (Reshape, Transpose,
 * MatMul), carried through the ops that keep it. An op not listed here gives "unknown", which no
 * pattern accepts.
 *
 * A dynamic-axes export leaves batch and length to run time and computes every Reshape spec from
 * Shape: so a graph input's symbolic size is carried as a symbol (symbolic-sizes.ts), and the
 * small integer tensors a spec is built of (Shape, Gather, Concat, Mul, Div…) are followed element
 * by element, so a computed spec reads as sizes, e.g. [batch, tokens, 4, 16].
 */
import type { GraphIndex } from './graph-index.js';
import { intAttribute, intsAttribute } from './graph-index.js';
import { onnx, type Node } from './model-proto.js';
import { divideSizes, isPositiveSize, multiplySizes, productOfSizes, type Size, symbolSize } from './symbolic-sizes.js';
import { tensorDims, tensorValues } from './tensor-values.js';

/** Known sizes are numbers, sizes left to run time symbolic ones; undefined marks a size this pass could not name. */
export type Dims = Size[];

/** Each value's shape, and what the small integer tensors (shapes being computed) hold, element by element. */
export class InferredShapes extends Map<string, Dims> {
  readonly contents = new Map<string, Size[]>();
}

const SAME_AS_FIRST_INPUT = new Set([
  'Identity', 'Cast', 'Softmax', 'LayerNormalization', 'InstanceNormalization', 'BatchNormalization', 'Erf', 'Sigmoid', 'Tanh',
  'Relu', 'Gelu', 'Sqrt', 'Neg', 'Exp', 'Log', 'Abs', 'Reciprocal', 'Dropout', 'Trilu', 'Sin', 'Cos',
]);
/** Shape specs longer than this are not shapes. */
const MAX_SPEC_LENGTH = 8;
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Max', 'Min', 'Equal', 'Less', 'Greater']);
const SAME_RANK = new Set(['Conv', 'Resize', 'Slice', 'Split', 'ConvTranspose', 'MaxPool', 'AveragePool', 'Pad']);
const T = onnx.TensorProto.DataType;
const INTEGER_TYPES = new Set<number>([T.INT64, T.INT32]);

export function inferShapes(index: GraphIndex): InferredShapes {
  const shapes = new InferredShapes();
  const inputs = new Set((index.graph.input ?? []).map((info) => info.name ?? ''));
  const declared = [...(index.graph.input ?? []), ...(index.graph.valueInfo ?? []), ...(index.graph.output ?? [])];
  for (const info of declared) {
    const dims = info.type?.tensorType?.shape?.dim;
    // A graph input's dim_param is a contract on what is fed; elsewhere it is only some tool's guess.
    const size = (d: NonNullable<typeof dims>[number]): Size =>
      d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam && inputs.has(info.name ?? '') ? symbolSize(d.dimParam) : undefined;
    if (info.name && dims && !shapes.has(info.name)) shapes.set(info.name, dims.map(size));
  }
  for (const [name, tensor] of index.initializers) {
    shapes.set(name, tensorDims(tensor));
    const values = integerConstant(name, index);
    if (values) shapes.contents.set(name, values);
  }
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
    // Only scalars and vectors: an element list says nothing of which row an element is in.
    const values = node.output?.[0] && (inferred?.length ?? 2) <= 1 ? inferValues(node, index, shapes) : undefined;
    if (values && values.length <= MAX_SPEC_LENGTH) shapes.contents.set(node.output![0]!, values);
  }
  return shapes;
}

/** A small integer constant's values. */
function integerConstant(value: string, index: GraphIndex): number[] | undefined {
  const tensor = index.constantTensor(value);
  if (!tensor || !INTEGER_TYPES.has(tensor.dataType ?? 0) || tensorDims(tensor).length > 1) return undefined;
  return tensorValues(tensor, MAX_SPEC_LENGTH);
}

function inferNode(node: Node, index: GraphIndex, shapes: InferredShapes): Dims | undefined {
  const inputs = (node.input ?? []).map((name) => (name ? shapes.get(name) : undefined));
  const first = inputs[0];
  if (node.domain === 'com.microsoft') return contribNode(node.opType ?? '', inputs);
  if ((node.domain ?? '') !== '') return undefined;
  const op = node.opType ?? '';
  const valuesOf = (i: number) => shapes.contents.get(node.input?.[i] ?? '');
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
    const values = inferValues(node, index, shapes);
    return first && values ? [values.length] : undefined;
  }
  if (op === 'Squeeze') {
    const axes = node.input?.[1] ? index.constantValues(node.input[1]) : intsAttribute(node, 'axes');
    return first && axes ? squeeze(first, axes) : undefined;
  }
  if (op === 'Unsqueeze') {
    // Opset 13 moved the axes from an attribute to the second input.
    const axes = node.input?.[1] ? index.constantValues(node.input[1]) : intsAttribute(node, 'axes');
    return first && axes ? unsqueeze(first, axes) : undefined;
  }
  if (op === 'Expand') {
    const spec = valuesOf(1);
    return first && spec ? broadcast([first, spec]) : undefined;
  }
  if (op === 'ConstantOfShape') return valuesOf(0);
  if (op === 'Range') {
    // arange(n), as transformers builds its causal mask: n elements when it starts at 0 by steps of 1.
    const [start, limit, delta] = [valuesOf(0), valuesOf(1), valuesOf(2)];
    return start?.[0] === 0 && delta?.[0] === 1 && limit?.length === 1 ? limit : undefined;
  }
  if (op === 'Reshape') {
    const spec = valuesOf(1);
    if (spec) return reshape(first, spec);
    // A spec of unknown sizes still fixes the rank.
    const specDims = inputs[1];
    return specDims?.length === 1 && typeof specDims[0] === 'number' && specDims[0] <= MAX_SPEC_LENGTH ? new Array<undefined>(specDims[0]).fill(undefined) : undefined;
  }
  return undefined;
}

/**
 * What a small integer tensor holds, element by element, as far as it is made of constants and
 * sizes: Shape (of the inferred shapes, so an element may be symbolic), Gather and Slice of it,
 * Concat, Unsqueeze, Squeeze and Reshape (which keep the elements), Mul, exact Div, Cast to an
 * integer type, and torch's spelling of expand's target (Where(Equal(shape, -1), 1, shape)).
 */
function inferValues(node: Node, index: GraphIndex, shapes: InferredShapes): Size[] | undefined {
  if ((node.domain ?? '') !== '') return undefined;
  const args = (node.input ?? []).map((input) => (input ? shapes.contents.get(input) : undefined));
  const [a, b, c] = args;
  const numbers = (v: Size[] | undefined) => (v?.every((x): x is number => typeof x === 'number') ? v : undefined);
  switch (node.opType) {
    case 'Constant':
      return integerConstant(node.output![0]!, index);
    case 'Identity':
    case 'Unsqueeze':
    case 'Squeeze':
    case 'Reshape':
      return a;
    case 'Cast':
      return INTEGER_TYPES.has(intAttribute(node, 'to') ?? 0) ? a : undefined;
    case 'Shape': {
      const dims = shapes.get(node.input?.[0] ?? '');
      return dims && slice(dims, [intAttribute(node, 'start') ?? 0], [intAttribute(node, 'end') ?? dims.length]);
    }
    case 'Gather': {
      const at = numbers(b);
      const rank = shapes.get(node.input?.[1] ?? '')?.length;
      if (!a || !at || (intAttribute(node, 'axis') ?? 0) !== 0 || rank === undefined || rank > 1) return undefined;
      const picked = at.map((i) => a[i < 0 ? i + a.length : i]);
      return picked.every((x, i) => x !== undefined && at[i]! < a.length) ? picked : undefined;
    }
    case 'Slice': {
      const [starts, ends, axes, steps] = [numbers(b), numbers(c), numbers(args[3]), numbers(args[4])];
      if (!a || !starts || !ends || (node.input?.[3] && !axes?.every((x) => x === 0 || x === -1)) || (node.input?.[4] && !steps?.every((x) => x === 1))) return undefined;
      return slice(a, starts, ends);
    }
    case 'Concat':
      return args.every((x) => x !== undefined) && (node.input ?? []).length > 0 ? (args as Size[][]).flat() : undefined;
    case 'ConstantOfShape': {
      const count = numbers(a);
      const fill = (node.attribute ?? []).find((x) => x.name === 'value')?.t;
      const fillValue = fill && INTEGER_TYPES.has(fill.dataType ?? 0) ? tensorValues(fill, 1)?.[0] : undefined;
      return count?.length === 1 && count[0]! <= MAX_SPEC_LENGTH && fillValue !== undefined ? new Array<number>(count[0]!).fill(fillValue) : undefined;
    }
    case 'Mul':
      return a && b ? elementwise((x, y) => multiplySizes(x, y), a, b) : undefined;
    case 'Div':
      return a && b ? elementwise((x, y) => divideSizes(x, y), a, b) : undefined;
    case 'Equal':
      return a && b ? elementwise(equalSizes, a, b) : undefined;
    case 'Where':
      return a && b && c ? elementwise((x, y, z) => (x === 1 ? y : x === 0 ? z : undefined), a, b, c) : undefined;
    default:
      return undefined;
  }
}

/** 1 or 0 where it is known: equal spellings are one value, and a size is never negative. */
function equalSizes(x: Size, y: Size): Size {
  if (x === undefined || y === undefined) return undefined;
  if (x === y) return 1;
  if (typeof x === 'number' && typeof y === 'number') return 0;
  const number = typeof x === 'number' ? x : typeof y === 'number' ? y : undefined;
  return number !== undefined && number < 0 ? 0 : undefined;
}

/** Element by element, one-element operands broadcast; any element unknown makes it unknown. */
function elementwise(f: (...x: Size[]) => Size, ...operands: Size[][]): Size[] | undefined {
  const length = Math.max(...operands.map((o) => o.length));
  if (operands.some((o) => o.length !== 1 && o.length !== length)) return undefined;
  const out = Array.from({ length }, (_, i) => f(...operands.map((o) => o[o.length === 1 ? 0 : i])));
  return out.every((x) => x !== undefined) ? out : undefined;
}

/** data[start:end] of a 1-D vector, as Slice and Shape's start/end read them. */
function slice(data: Size[], starts: number[], ends: number[]): Size[] | undefined {
  if (starts.length !== 1 || ends.length !== 1) return undefined;
  const at = (i: number) => Math.min(Math.max(i < 0 ? i + data.length : i, 0), data.length);
  return data.slice(at(starts[0]!), at(ends[0]!));
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
    case 'BiasSplitGelu': return first?.length === 3 ? [first[0], first[1], divideSizes(first[2], 2)] : undefined;
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
    return sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((a, b) => a + b, 0) : undefined;
  });
}

/** The input without the given axes, each of which must be (or may be) 1. */
function squeeze(input: Dims, axes: number[]): Dims | undefined {
  const at = new Set(axes.map((a) => (a < 0 ? a + input.length : a)));
  if (at.size !== axes.length || [...at].some((a) => a < 0 || a >= input.length || (input[a] !== undefined && input[a] !== 1))) return undefined;
  return input.filter((_, i) => !at.has(i));
}

function unsqueeze(input: Dims, axes: number[]): Dims | undefined {
  const rank = input.length + axes.length;
  const at = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
  if (at.size !== axes.length || [...at].some((a) => a < 0 || a >= rank)) return undefined;
  const rest = [...input];
  return Array.from({ length: rank }, (_, i) => (at.has(i) ? 1 : rest.shift()));
}

function broadcast(inputs: (Dims | undefined)[]): Dims | undefined {
  if (inputs.length === 0 || inputs.some((d) => d === undefined)) return undefined;
  const rank = Math.max(...inputs.map((d) => d!.length));
  return Array.from({ length: rank }, (_, axis) => {
    const sizes = inputs.map((d) => (axis < rank - d!.length ? 1 : d![axis - (rank - d!.length)]));
    const wide = sizes.filter((s) => s !== 1);
    if (wide.length === 0) return 1;
    // A number other than 1 is what every other size must be or broadcast to; a symbol may be 1 at run time, so two unlike ones name nothing.
    const numbers = wide.filter((s) => typeof s === 'number');
    if (numbers.length > 0) return numbers.every((s) => s === numbers[0]) ? numbers[0] : undefined;
    return wide.every((s) => s !== undefined && s === wide[0]) ? wide[0] : undefined;
  });
}

function matmul(a: Dims | undefined, b: Dims | undefined): Dims | undefined {
  if (!a || !b || a.length < 2 || b.length < 2) return undefined;
  const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
  return batch ? [...batch, a.at(-2), b.at(-1)] : undefined;
}

/** Reshape's output from its spec: 0 copies the input's size, -1 takes what is left. */
export function reshape(input: Dims | undefined, spec: Size[]): Dims {
  const out: Dims = spec.map((s, i) => (s === 0 ? input?.[i] : isPositiveSize(s) ? s : undefined));
  const inferred = spec.indexOf(-1);
  if (inferred >= 0 && input && input.every((d) => d !== undefined)) {
    const rest = out.filter((_, i) => i !== inferred);
    if (rest.every((d) => d !== undefined)) out[inferred] = divideSizes(productOfSizes(input), productOfSizes(rest));
  }
  return out;
}
