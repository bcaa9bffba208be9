/**
 * Whether two 3-D values surely have one shape, also when the sizes are symbolic (an export with
 * dynamic batch and image size). BiasAdd and SkipLayerNormalization read their skip input
 * element for element beside X, without broadcasting, so a fusion needs that proof.
 *
 * Sizes the shape pass knows are compared as numbers. Otherwise each value's leading (all but
 * last) sizes are traced back through ops that keep them — LayerNormalization, element-wise ops
 * with a per-channel or scalar operand, a MatMul by a 2-D weight, the fused ops — to the value
 * they were taken from; two values with the same origin and the same last size have one shape.
 */
import type { GraphIndex } from './graph-index.js';
import type { Node } from './model-proto.js';
import type { Dims } from './static-shapes.js';

const KEEPS_SHAPE = new Set(['Identity', 'Cast', 'Erf', 'Sigmoid', 'Tanh', 'Relu', 'Gelu', 'Sqrt', 'Neg', 'Exp', 'Log', 'Abs', 'Reciprocal', 'LayerNormalization', 'Dropout']);
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div']);
/** Fused ops whose output keeps the leading sizes of their first input. */
const CONTRIB_KEEPS_LEADING = new Set(['BiasSplitGelu', 'BiasAdd', 'SkipLayerNormalization', 'MultiHeadAttention']);
const MAX_DEPTH = 256;

export function sameShape(a: string, b: string, index: GraphIndex, shapes: Map<string, Dims>): boolean {
  const [x, y] = [shapes.get(a), shapes.get(b)];
  if (x?.length !== 3 || y?.length !== 3 || x[2] === undefined || x[2] !== y[2]) return false;
  const memo = new Map<string, string>();
  return leadingOrigin(a, index, shapes, memo, 0) === leadingOrigin(b, index, shapes, memo, 0);
}

/** A key equal for two values only when their leading sizes are surely equal. */
function leadingOrigin(value: string, index: GraphIndex, shapes: Map<string, Dims>, memo: Map<string, string>, depth: number): string {
  const known = shapes.get(value);
  if (known && known.length >= 2 && known.slice(0, -1).every((d) => d !== undefined)) return `sizes:${known.slice(0, -1).join(',')}`;
  const cached = memo.get(value);
  if (cached !== undefined) return cached;
  const origin = (input: string) => leadingOrigin(input, index, shapes, memo, depth + 1);
  const own = `value:${value}`;
  const node = index.producer.get(value);
  let key = own;
  if (node && depth < MAX_DEPTH) {
    const [first, second] = node.input ?? [];
    const rank = (name: string | undefined) => (name ? shapes.get(name)?.length : undefined);
    const domain = node.domain ?? '';
    // Every output of these that has a shape has the first input's leading sizes (SkipLayerNormalization's sum as well).
    if (domain === 'com.microsoft' && CONTRIB_KEEPS_LEADING.has(node.opType ?? '') && first) key = origin(first);
    else if (domain === '' && first && KEEPS_SHAPE.has(node.opType ?? '') && node.output?.[0] === value) key = origin(first);
    else if (domain === '' && node.opType === 'MatMul' && first && rank(second) === 2 && rank(first) === shapes.get(value)?.length) key = origin(first);
    else if (domain === '' && ELEMENTWISE.has(node.opType ?? '') && first && second) key = elementwiseOrigin(node, first, second, rank, origin) ?? own;
  }
  memo.set(value, key);
  return key;
}

/** An element-wise op keeps its operands' leading sizes when the other operand is per-channel (rank ≤ 1) or has the same origin and rank. */
function elementwiseOrigin(node: Node, first: string, second: string, rank: (name: string) => number | undefined, origin: (name: string) => string): string | undefined {
  const [ra, rb, out] = [rank(first), rank(second), rank(node.output![0]!)];
  if (ra === undefined || rb === undefined || out === undefined || ra < 2 && rb < 2) return undefined;
  if (rb <= 1 && ra === out) return origin(first);
  if (ra <= 1 && rb === out) return origin(second);
  if (ra === rb && ra === out) {
    const key = origin(first);
    return key === origin(second) ? key : undefined;
  }
  return undefined;
}
