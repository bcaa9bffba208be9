/**
 * A forward pass that knows the rank (and, where constants fix them, the sizes) of the values an
 * attention matcher looks at. ONNX Runtime's contrib attention takes 3-D [batch, length, width]
 * tensors only, and exports carry no value_info, so the rank of q, k and v must be worked out:
 * from the graph's inputs, weights and the few ops that decide a shape (Reshape, Transpose,
 * MatMul), carried through the ops that keep it. An op not listed here gives "unknown", which no
 * pattern accepts.
 */
import type { GraphIndex } from './graph-index.js';
import { intsAttribute } from './graph-index.js';
import type { Node } from './model-proto.js';
import { tensorDims } from './tensor-values.js';

/** Known sizes are numbers; undefined marks a size this pass could not fix. */
export type Dims = (number | undefined)[];

const SAME_AS_FIRST_INPUT = new Set([
  'Identity', 'Cast', 'Softmax', 'LayerNormalization', 'InstanceNormalization', 'BatchNormalization', 'Erf', 'Sigmoid', 'Tanh',
  'Relu', 'Gelu', 'Sqrt', 'Neg', 'Exp', 'Log', 'Abs', 'Reciprocal', 'Dropout',
]);
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Max', 'Min', 'Equal', 'Less', 'Greater']);
const SAME_RANK = new Set(['Conv', 'Resize', 'Slice', 'Split', 'Concat', 'ConvTranspose', 'MaxPool', 'AveragePool', 'Pad']);

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
      const dims = i === 0 || node.opType === 'Split' ? inferred : undefined;
      if (output && dims && !shapes.has(output)) shapes.set(output, dims);
    });
  }
  return shapes;
}

function inferNode(node: Node, index: GraphIndex, shapes: Map<string, Dims>): Dims | undefined {
  const inputs = (node.input ?? []).map((name) => (name ? shapes.get(name) : undefined));
  const first = inputs[0];
  if ((node.domain ?? '') !== '') return undefined;
  const op = node.opType ?? '';
  if (op === 'Constant') {
    const tensor = index.constantTensor(node.output![0]!);
    return tensor ? tensorDims(tensor) : undefined;
  }
  if (SAME_AS_FIRST_INPUT.has(op)) return first;
  if (SAME_RANK.has(op)) return first?.map(() => undefined);
  if (BROADCASTING.has(op)) return broadcast(inputs);
  if (op === 'Transpose') {
    const perm = intsAttribute(node, 'perm');
    return first && perm && perm.length === first.length ? perm.map((p) => first[p]) : undefined;
  }
  if (op === 'MatMul') return matmul(inputs[0], inputs[1]);
  if (op === 'Reshape') {
    const spec = index.constantValues(node.input?.[1] ?? '');
    return spec ? reshape(first, spec) : undefined;
  }
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
