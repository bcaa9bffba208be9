/**
 * The GEGLU pass: diffusers' feed-forward `hidden, gate = proj(x).chunk(2, -1); hidden * gelu(gate)`
 * as one com.microsoft BiasSplitGelu(proj's MatMul output, proj's bias).
 *
 * The op (docs/ContribOperators.md, BiasSplitGelu): X [N, S, D] plus bias [D], split in halves
 * along the last axis, Y = left · GELU(right) with the exact (erf) GELU: [N, S, D/2]. So the gate
 * must be the second half, the GELU the erf one, and X 3-D.
 *
 * torch.onnx.export (1.13, opset 17) writes the chunk as two Slices whose bounds it computes from
 * Shape(sum)[-1]; the project's builder writes a Split. Both are read here, with the bounds
 * folded from the sizes the shape pass knows.
 */
import { CONTRIB_DOMAIN } from './rewrite.js';
import { applyFusions, type Fusion, isPlain, isScalarNear, namer, otherInput } from './fusion-rewrite.js';
import { GraphIndex, intAttribute, intsAttribute } from './graph-index.js';
import { type Model, type Node, onnx } from './model-proto.js';
import { type Dims, inferShapes } from './static-shapes.js';

/** Which last-axis sizes D a target's kernel runs: a fused node its kernel refuses breaks the model on that device. */
export type AcceptsWidth = (width: number) => boolean;

interface Context {
  index: GraphIndex;
  shapes: Map<string, Dims>;
}

/** Rewrites `model` in place; returns how many BiasSplitGelu nodes it added. */
export function fuseBiasSplitGelu(model: Model, accepts: AcceptsWidth): number {
  const index = new GraphIndex(model.graph!);
  const ctx = { index, shapes: inferShapes(index) };
  const name = namer(model);
  const fusions = (model.graph!.node ?? []).flatMap((node): Fusion[] => {
    const match = matchGeglu(node, ctx, accepts);
    if (!match) return [];
    const fused = onnx.NodeProto.create({ name: name('BiasSplitGelu_fused'), opType: 'BiasSplitGelu', domain: CONTRIB_DOMAIN, input: [match.input, match.bias], output: [match.output] });
    return [{ nodes: match.nodes, at: match.last, fused }];
  });
  return applyFusions(model, fusions);
}

interface GegluMatch {
  input: string;
  bias: string;
  output: string;
  nodes: Node[];
  last: Node;
}

function matchGeglu(add: Node, ctx: Context, accepts: AcceptsWidth): GegluMatch | undefined {
  if (!isPlain(add, 'Add') || (add.input ?? []).length !== 2) return undefined;
  const { index, shapes } = ctx;
  const sum = add.output?.[0];
  if (!sum || index.pinned.has(sum)) return undefined;
  for (const [input, bias] of [[add.input![0]!, add.input![1]!], [add.input![1]!, add.input![0]!]] as const) {
    const x = shapes.get(input);
    const b = shapes.get(bias);
    const width = x?.[2];
    if (x?.length !== 3 || b?.length !== 1 || typeof width !== 'number' || b[0] !== width || width % 2 !== 0 || !accepts(width)) continue;
    const halves = splitHalves(sum, width, ctx);
    if (!halves) return undefined;
    const final = index.soleReader(halves.left);
    if (!isPlain(final, 'Mul') || otherInput(final, halves.left) === undefined) return undefined;
    const gelu = matchExactGelu(otherInput(final, halves.left)!, halves.right, ctx);
    if (!gelu) return undefined;
    // Nothing but the GELU may read the gate: it is gone once fused.
    if (index.pinned.has(halves.right) || index.readersOf(halves.right).some((reader) => !gelu.includes(reader))) return undefined;
    return { input, bias, output: final.output![0]!, nodes: [add, ...halves.nodes, ...gelu, final], last: final };
  }
  return undefined;
}

interface Halves {
  left: string;
  right: string;
  /** The Split, or the two Slices and the Shape arithmetic only their bounds used. */
  nodes: Node[];
}

/** The two last-axis halves of `sum` [N, S, width] when nothing else reads it. */
function splitHalves(sum: string, width: number, ctx: Context): Halves | undefined {
  const { index } = ctx;
  const readers = index.readersOf(sum);
  const lastAxis = (axis: number | undefined) => axis === 2 || axis === -1;
  if (readers.length === 1 && isPlain(readers[0], 'Split')) {
    const split = readers[0];
    if ((split.output ?? []).length !== 2 || !split.output!.every(Boolean) || !lastAxis(intAttribute(split, 'axis') ?? 0)) return undefined;
    // Opset 13 moved the sizes to an input; 18 added num_outputs; none at all means equal parts.
    const sizes = split.input?.[1] ? index.constantValues(split.input[1]) : intsAttribute(split, 'split');
    if (sizes && !(sizes.length === 2 && sizes[0] === width / 2 && sizes[1] === width / 2)) return undefined;
    return { left: split.output![0]!, right: split.output![1]!, nodes: [split] };
  }
  const slices: Node[] = readers.filter((r) => isPlain(r, 'Slice'));
  const others = readers.filter((r) => !slices.includes(r));
  if (slices.length !== 2 || others.some((r) => !isPlain(r, 'Shape'))) return undefined;
  const folded = new Set<Node>();
  const ranges = slices.map((slice) => sliceRange(slice, width, ctx, folded));
  const left = slices[ranges.findIndex((r) => r?.[0] === 0 && r[1] === width / 2)];
  const right = slices[ranges.findIndex((r) => r?.[0] === width / 2 && r[1] === width)];
  if (!left || !right) return undefined;
  // The Shape readers, and all they feed, must exist only for these bounds, as they go with the sum.
  const arithmetic = new Set<Node>();
  const pending = [...others];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (arithmetic.has(node)) continue;
    if (!folded.has(node)) return undefined;
    arithmetic.add(node);
    for (const output of node.output ?? []) {
      if (index.pinned.has(output)) return undefined;
      for (const reader of index.readersOf(output)) if (reader !== left && reader !== right) pending.push(reader);
    }
  }
  return { left: left.output![0]!, right: right.output![0]!, nodes: [left, right, ...arithmetic] };
}

/** [start, end) of a Slice over the last axis of a [N, S, width] tensor with unit step, clamped as Slice clamps. */
function sliceRange(slice: Node, width: number, ctx: Context, folded: Set<Node>): [number, number] | undefined {
  const [, startsName, endsName, axesName, stepsName] = slice.input ?? [];
  if (!startsName || !endsName) return undefined;
  const axes = axesName ? foldInts(axesName, ctx, folded) : [0];
  const steps = stepsName ? foldInts(stepsName, ctx, folded) : [1];
  const starts = foldInts(startsName, ctx, folded);
  const ends = foldInts(endsName, ctx, folded);
  if (axes?.length !== 1 || (axes[0] !== 2 && axes[0] !== -1) || steps?.length !== 1 || steps[0] !== 1) return undefined;
  if (starts?.length !== 1 || ends?.length !== 1 || starts[0] === undefined || ends[0] === undefined) return undefined;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + width : v, 0), width);
  return [clamp(starts[0]), clamp(ends[0])];
}

const MAX_FOLD_DEPTH = 8;

/**
 * A short integer vector folded from constants and the sizes the shape pass knows (Shape, Gather,
 * integer arithmetic), recording each node it read in `folded`. Entries it cannot fix are undefined.
 */
function foldInts(value: string, ctx: Context, folded: Set<Node>, depth = 0): (number | undefined)[] | undefined {
  const { index, shapes } = ctx;
  const constant = index.constantValues(value);
  const node = index.producer.get(value);
  if (node) folded.add(node);
  if (constant) return constant.length <= 8 ? constant : undefined;
  if (!node || (node.domain ?? '') !== '' || depth > MAX_FOLD_DEPTH) return undefined;
  const args = (node.input ?? []).map((input) => (input ? foldInts(input, ctx, folded, depth + 1) : undefined));
  const [a, b] = args;
  switch (node.opType) {
    case 'Shape': {
      const dims = shapes.get(node.input?.[0] ?? '');
      if (!dims) return undefined;
      const start = intAttribute(node, 'start') ?? 0;
      const end = intAttribute(node, 'end') ?? dims.length;
      // Symbolic sizes (static-shapes.ts) are unknown here: only numbers fold.
      return dims.slice(start, end).map((d) => (typeof d === 'number' ? d : undefined));
    }
    case 'Gather': {
      if (!a || !b || (intAttribute(node, 'axis') ?? 0) !== 0) return undefined;
      return b.map((i) => (i === undefined ? undefined : a[i < 0 ? i + a.length : i]));
    }
    case 'Identity': case 'Cast': case 'Squeeze': case 'Unsqueeze':
      return a?.length === 1 ? a : undefined;
    case 'Concat':
      return args.every((x) => x !== undefined) ? args.flat() : undefined;
    case 'Add': return a && b ? elementwise(a, b, (x, y) => x + y) : undefined;
    case 'Sub': return a && b ? elementwise(a, b, (x, y) => x - y) : undefined;
    case 'Mul': return a && b ? elementwise(a, b, (x, y) => x * y) : undefined;
    // Shape arithmetic is int64, whose Div truncates.
    case 'Div': return a && b ? elementwise(a, b, (x, y) => (y === 0 ? undefined : Math.trunc(x / y))) : undefined;
    default: return undefined;
  }
}

function elementwise(a: (number | undefined)[], b: (number | undefined)[], f: (x: number, y: number) => number | undefined): (number | undefined)[] | undefined {
  const length = Math.max(a.length, b.length);
  if ((a.length !== 1 && a.length !== length) || (b.length !== 1 && b.length !== length)) return undefined;
  return Array.from({ length }, (_, i) => {
    const x = a[a.length === 1 ? 0 : i];
    const y = b[b.length === 1 ? 0 : i];
    return x === undefined || y === undefined ? undefined : f(x, y);
  });
}

/**
 * The nodes computing `value` = GELU(`gate`) exactly: ONNX Gelu without approximation, or
 * x · 0.5 · (1 + erf(x / √2)) as two Muls in any order and grouping (x/√2 as a Div or a Mul by 1/√2).
 * A tanh-approximate GELU has no Erf and does not match: BiasSplitGelu computes the erf one.
 */
function matchExactGelu(value: string, gate: string, ctx: Context): Node[] | undefined {
  const { index } = ctx;
  const top = index.producer.get(value);
  if (isPlain(top, 'Gelu')) {
    const approximate = (top.attribute ?? []).find((a) => a.name === 'approximate')?.s;
    const exact = !approximate || new TextDecoder().decode(approximate) === 'none';
    return exact && top.input?.[0] === gate && index.soleReader(value) ? [top] : undefined;
  }
  if (!isPlain(top, 'Mul') || !index.soleReader(value)) return undefined;
  // The product's three factors: the gate, 0.5 and (1 + erf(gate/√2)).
  const muls: Node[] = [top];
  const factors: string[] = [];
  for (const input of top.input ?? []) {
    const inner = index.producer.get(input);
    if (isPlain(inner, 'Mul') && input !== gate && index.soleReader(input) && !isScalarNear(index, input, 0.5)) {
      muls.push(inner);
      factors.push(...(inner.input ?? []));
    } else factors.push(input);
  }
  if (muls.length !== 2 || factors.length !== 3) return undefined;
  const half = factors.findIndex((f) => isScalarNear(index, f, 0.5));
  const x = factors.indexOf(gate);
  const rest = factors.filter((_, i) => i !== half && i !== x);
  if (half < 0 || x < 0 || rest.length !== 1) return undefined;
  const onePlus = index.producer.get(rest[0]!);
  if (!isPlain(onePlus, 'Add') || !index.soleReader(rest[0]!)) return undefined;
  const erfValue = (onePlus.input ?? []).find((input) => isPlain(index.producer.get(input), 'Erf'));
  if (!erfValue || !isScalarNear(index, otherInput(onePlus, erfValue) ?? '', 1) || !index.soleReader(erfValue)) return undefined;
  const erf = index.producer.get(erfValue)!;
  const scaledName = erf.input?.[0] ?? '';
  const scaled = index.producer.get(scaledName);
  if (!scaled || !index.soleReader(scaledName)) return undefined;
  if ((scaled.domain ?? '') !== '') return undefined;
  const divides = scaled.opType === 'Div' && scaled.input?.[0] === gate && isScalarNear(index, scaled.input?.[1] ?? '', Math.SQRT2);
  const multiplies = scaled.opType === 'Mul' && isScalarNear(index, otherInput(scaled, gate) ?? '', Math.SQRT1_2);
  return divides || multiplies ? [scaled, erf, onePlus, ...muls] : undefined;
}
