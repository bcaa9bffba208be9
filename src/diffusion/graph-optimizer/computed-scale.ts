/**
 * Scalars an exporter computes at run time that are constants all the same. torch 2.x lowers
 * F.scaled_dot_product_attention with its scale read off the query's shape: Shape → Slice (or
 * Gather) of the head width → Cast to float → Sqrt → Div of 1 (then √ of that multiplied into q
 * and into kᵀ apart). Where static-shapes.ts knows what the shape's elements hold (the head width
 * is the weights' and so a number even with dynamic axes), the whole expression is one number,
 * and this works it out. Anything it cannot prove (a size left to run time, an op it does not
 * know, a tensor of more than one element) gives undefined, which no pattern accepts.
 */
import { floatToHalfBits, halfBitsToFloat } from '../float16.js';
import type { GraphIndex } from './graph-index.js';
import { intAttribute } from './graph-index.js';
import { onnx } from './model-proto.js';
import type { InferredShapes } from './static-shapes.js';
import { tensorDims, tensorValues } from './tensor-values.js';

const T = onnx.TensorProto.DataType;
const FLOAT_TYPES = new Set<number>([T.FLOAT, T.FLOAT16, T.DOUBLE, T.BFLOAT16]);
/** The longest chain an exporter writes is Shape, Slice, Cast, Sqrt, Div, Cast, Sqrt. */
const MAX_DEPTH = 10;
/** Integers of at most this size are exact in every float type a Cast may go to (float16 and bfloat16 included: 2⁸). */
const EXACT_INTEGER = 256;
/** How far back a value's element type is followed (an attention operand is a dozen layout steps from its graph input). */
const MAX_TYPE_DEPTH = 32;

export interface ScalarContext {
  index: GraphIndex;
  shapes: InferredShapes;
}

interface Scalar {
  value: number;
  /** The most axes any operand had: a one-element value of rank 2 or more could widen what it multiplies. */
  rank: number;
}

/**
 * The one number `value` always holds, when it is a single element of rank 0 or 1: a constant, a
 * size static-shapes.ts worked out, or float arithmetic (Cast, CastLike to a provably float or unknown type, Identity, Sqrt,
 * Reciprocal, Mul, Div, Pow by a constant exponent) of those.
 */
export function scalarValue(value: string, ctx: ScalarContext): number | undefined {
  const scalar = evaluate(value, ctx, 0);
  return scalar && scalar.rank <= 1 && Number.isFinite(scalar.value) ? scalar.value : undefined;
}

/** A Cast to `to` of what `unary` reads: to a float type only (an integer Cast of a fraction would truncate), rounded as the graph rounds it; bfloat16 only where exact. */
function castTo(to: number, unary: (f: (x: number) => number | undefined) => Scalar | undefined): Scalar | undefined {
  if (!FLOAT_TYPES.has(to)) return undefined;
  return unary((x) => {
    if (to === T.FLOAT) return Math.fround(x);
    if (to === T.FLOAT16) return halfBitsToFloat(floatToHalfBits(x));
    if (to === T.DOUBLE) return x;
    return Number.isInteger(x) && Math.abs(x) <= EXACT_INTEGER ? x : undefined;
  });
}

/** Ops whose (first) output has the element type of their first input, as ONNX's type constraints fix it. */
const SAME_TYPE_AS_FIRST = new Set([
  'Identity', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Expand', 'Slice', 'Gather', 'Concat', 'Softmax', 'Sqrt', 'Neg', 'Reciprocal',
  'Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Dropout',
]);

const declaredTypesOf = new WeakMap<GraphIndex, Map<string, number>>();

/** The element types the graph's inputs, value_info and outputs declare, once per index; a name declared twice unlike is 0 (unknown). */
function declaredTypes(index: GraphIndex): Map<string, number> {
  let types = declaredTypesOf.get(index);
  if (!types) {
    types = new Map();
    for (const info of [...(index.graph.input ?? []), ...(index.graph.valueInfo ?? []), ...(index.graph.output ?? [])]) {
      const type = info.type?.tensorType?.elemType;
      if (info.name && type) types.set(info.name, types.has(info.name) && types.get(info.name) !== type ? 0 : type);
    }
    declaredTypesOf.set(index, types);
  }
  return types;
}

/**
 * The element type `value` provably has: the type its graph input, value_info or output declares,
 * a constant's, a Cast's `to`, a CastLike's target's, or that of the first input of an op whose
 * output type is its input's. Anything else (an op not listed, a domain other than ONNX's) is
 * undefined: no type is guessed.
 */
function elementType(value: string, index: GraphIndex, depth: number): number | undefined {
  const declaredType = declaredTypes(index).get(value);
  if (declaredType !== undefined) return declaredType || undefined;
  const tensor = index.constantTensor(value);
  if (tensor) return tensor.dataType ?? undefined;
  const node = index.producer.get(value);
  if (!node || (node.domain ?? '') !== '' || node.output?.[0] !== value || depth >= MAX_TYPE_DEPTH) return undefined;
  if (node.opType === 'Cast') return intAttribute(node, 'to');
  if (node.opType === 'CastLike') return node.input?.[1] ? elementType(node.input[1], index, depth + 1) : undefined;
  if (node.opType === 'Shape') return T.INT64;
  return SAME_TYPE_AS_FIRST.has(node.opType ?? '') && node.input?.[0] ? elementType(node.input[0], index, depth + 1) : undefined;
}

function evaluate(value: string, ctx: ScalarContext, depth: number): Scalar | undefined {
  const tensor = ctx.index.constantTensor(value);
  if (tensor) {
    const values = tensorValues(tensor, 1);
    return values?.length === 1 ? { value: values[0]!, rank: tensorDims(tensor).length } : undefined;
  }
  // Sizes: integer scalars and vectors whose elements static-shapes.ts followed (a symbolic one is no number).
  const contents = ctx.shapes.contents.get(value);
  if (contents) {
    const rank = ctx.shapes.get(value)?.length;
    return contents.length === 1 && typeof contents[0] === 'number' && rank !== undefined ? { value: contents[0], rank } : undefined;
  }
  const node = ctx.index.producer.get(value);
  if (!node || (node.domain ?? '') !== '' || (node.output ?? []).length !== 1 || depth >= MAX_DEPTH) return undefined;
  const inputs = node.input ?? [];
  const operand = (i: number) => (inputs[i] ? evaluate(inputs[i], ctx, depth + 1) : undefined);
  /** f of the first operand, its rank kept (CastLike's second input is only a type). */
  const ofFirst = (f: (x: number) => number | undefined): Scalar | undefined => {
    const x = operand(0);
    const result = x && f(x.value);
    return x && result !== undefined ? { value: result, rank: x.rank } : undefined;
  };
  const unary = (f: (x: number) => number | undefined): Scalar | undefined => (inputs.length === 1 ? ofFirst(f) : undefined);
  const binary = (f: (x: number, y: number) => number | undefined): Scalar | undefined => {
    const [x, y] = inputs.length === 2 ? [operand(0), operand(1)] : [];
    const result = x && y && f(x.value, y.value);
    return x && y && result !== undefined ? { value: result, rank: Math.max(x.rank, y.rank) } : undefined;
  };
  switch (node.opType) {
    case 'Identity':
      return unary((x) => x);
    case 'Cast':
      return castTo(intAttribute(node, 'to') ?? 0, unary);
    case 'CastLike': {
      // A target of a float type the graph provably gives it casts as Cast to that type would (onnxscript casts √scale like kᵀ).
      const to = inputs.length === 2 && inputs[1] ? elementType(inputs[1], ctx.index, 0) : undefined;
      if (to !== undefined && FLOAT_TYPES.has(to)) return castTo(to, ofFirst);
      // Otherwise the target's type is not known: only an integer small enough to be exact in any numeric type passes unchanged.
      const x = inputs.length === 2 ? operand(0) : undefined;
      return x && Number.isInteger(x.value) && Math.abs(x.value) <= EXACT_INTEGER ? x : undefined;
    }
    case 'Sqrt':
      return unary((x) => (x >= 0 ? Math.sqrt(x) : undefined));
    case 'Reciprocal':
      return unary((x) => (x !== 0 ? 1 / x : undefined));
    case 'Mul':
      return binary((x, y) => x * y);
    case 'Div':
      return binary((x, y) => (y !== 0 ? x / y : undefined));
    case 'Pow': {
      // The exponent a constant, the base positive: x^y is then one real number.
      const exponent = inputs[1] ? ctx.index.constantTensor(inputs[1]) : undefined;
      return exponent ? binary((x, y) => (x > 0 ? x ** y : undefined)) : undefined;
    }
    default:
      return undefined;
  }
}
