/**
 * Finds plain attention around one Softmax: softmax(q·kᵀ·scale)·v with q, k, v split into heads
 * from 3-D projections and the heads merged back, in the forms torch.onnx.export and the
 * project's own builder write (heads as a 4th axis, or folded into the batch as diffusers'
 * AttnProcessor does; the scale on the scores, on q and k apart, or on q's projection before the
 * split, a constant or computed at run time from sizes that are (torch 2.x's lowering of
 * F.scaled_dot_product_attention reads it off the query's shape; torch ≥ 2.9's dynamo exporter,
 * onnxscript's torch_lib, casts it like the query, swaps k's last two axes by a Reshape to 3-D, a
 * Transpose and a Reshape back, and writes a Dropout of ratio 0 after Softmax); baddbmm's zero addend; an additive mask, such as CLIP's causal one, added to the scaled
 * scores just before Softmax, or masks added one by one in a [B, h, Lq, Lk] view of the folded
 * scores, as transformers' CLIPAttention adds them). It
 * only answers when every value in between is read by the next step alone, so replacing the
 * whole chain by one node changes nothing any other node sees.
 */
import { scalarValue } from './computed-scale.js';
import type { GraphIndex } from './graph-index.js';
import { intAttribute, intsAttribute } from './graph-index.js';
import { batchToHeads, type Heads, headSplit, headsToBatch, isTranspose, mergeHeads, reshapeSpec, scoresToBatch, scoresToHeads } from './head-layout.js';
import { type Node, onnx } from './model-proto.js';
import { unreadOnceGone } from './prune.js';
import type { Dims, InferredShapes } from './static-shapes.js';
import { isPositiveSize, multiplySizes, type Size } from './symbolic-sizes.js';
import { tensorDims, tensorValues } from './tensor-values.js';

export interface AttentionMatch {
  /** The 3-D [B, L, h·d] projections the heads were split from. */
  query: string;
  key: string;
  value: string;
  /** The merged [B, Lq, h·d] result; the fused node writes this same value. */
  output: string;
  numHeads: number;
  /** The product of every constant factor the scores got (a constant or computed from sizes that are), ≈ 1/√headDim. */
  scale: number;
  /** The additive masks the scaled scores got, in the order added: MultiHeadAttention's attention_bias is their sum. */
  attentionBias: AttentionBias[];
  /** Every node the fused one replaces. */
  nodes: Node[];
}

/**
 * attention_bias must be 4-D [B or 1, h or 1, Lq, Lk] (ORT 1.29's CPU kernel refuses any other
 * rank and broadcasts only the first two axes), so a mask of lower rank is expanded to it first.
 */
export interface AttentionBias {
  mask: string;
  /**
   * Expand the mask to [1, 1, Lq, Lk] first: to this constant shape, or, for 'self-length', to
   * [1, 1, L, L] with L read from the query at run time; absent when the mask already is 4-D.
   */
  expandTo?: number[] | 'self-length';
}

export interface MatchContext {
  index: GraphIndex;
  shapes: InferredShapes;
  /** The model's default-domain opset: Softmax's default axis changed at 13. */
  opset: number;
}

/** How far the scale may stray from 1/√headDim: float16 constants round by up to 2⁻¹¹ each. */
const SCALE_TOLERANCE = 2e-3;
const STEP_LIMIT = 12;

interface Operand {
  source: string;
  /** Layout steps from the source towards the MatMul, consecutive Transposes folded into one perm. */
  steps: { node: Node; perm?: number[] }[];
  scale: number;
  nodes: Node[];
}

function isDefaultDomain(node: Node | undefined): node is Node {
  return node !== undefined && (node.domain ?? '') === '' && (node.output ?? []).length === 1;
}

/**
 * Mul or Div of `value` by a scalar that provably always holds one number (computed-scale.ts): a
 * constant, or a run-time computation of one such as torch 2.x's SDPA scale, 1/√ of the query's
 * last size. What only that computation read goes with the chain (chainSelfContained,
 * prune.ts), or the chain does not fuse. Returns the other operand and the factor it applies.
 */
function scaling(node: Node, ctx: MatchContext): { input: string; factor: number } | undefined {
  const [a, b] = node.input ?? [];
  if (!a || !b || (node.input ?? []).length !== 2) return undefined;
  if (node.opType === 'Mul') {
    const fb = scalarValue(b, ctx);
    if (fb !== undefined) return { input: a, factor: fb };
    const fa = scalarValue(a, ctx);
    return fa !== undefined ? { input: b, factor: fa } : undefined;
  }
  if (node.opType === 'Div') {
    const divisor = scalarValue(b, ctx);
    return divisor ? { input: a, factor: 1 / divisor } : undefined;
  }
  return undefined;
}

/**
 * Whether `reader` sees only `value`'s shape or element type, not its data: a Shape of it, or a
 * CastLike taking it as the type to cast to (onnxscript's SDPA scale, CastLike(size, query)).
 */
function readsOnlyShapeOrType(reader: Node, value: string): boolean {
  if ((reader.domain ?? '') !== '') return false;
  return reader.opType === 'Shape' || (reader.opType === 'CastLike' && reader.input?.[0] !== value);
}

/**
 * The one node reading `value`'s data, when exactly one does and nothing else can see it. A
 * dynamic-axes export also reads values' Shape, to compute the specs of the very Reshapes the
 * chain is made of, and torch 2.x's SDPA reads the query's Shape (and type) for its scale: those
 * readers are let be here, and matchAttention proves at the end that each goes with the chain
 * (chainSelfContained).
 */
function nextReader(value: string, ctx: MatchContext): Node | undefined {
  const readers = ctx.index.readersOf(value).filter((r) => !readsOnlyShapeOrType(r, value));
  return readers.length === 1 && !ctx.index.pinned.has(value) ? readers[0] : undefined;
}

/** Go on to `next`; `via` the nodes between this one and `next`'s reader, each read by the one before alone (checked by the step). */
type Step<T> = { next: string; via?: Node[] } | { stop: T; keep: boolean } | undefined;

/**
 * Walks producers back from `start`, each value read by the step before alone, taking constant
 * scalings as it goes; `step` says where to go on from any other node, or where the walk ends
 * (and whether the node it ends at belongs to the chain).
 */
function walkBack<T>(start: string, reader: Node, ctx: MatchContext, step: (node: Node) => Step<T>): { stop: T; scale: number; nodes: Node[] } | undefined {
  const nodes: Node[] = [];
  let scale = 1;
  let value = start;
  let from = reader;
  for (let i = 0; i < STEP_LIMIT; i++) {
    const node = ctx.index.producer.get(value);
    if (nextReader(value, ctx) !== from || !isDefaultDomain(node)) return undefined;
    const scaled = scaling(node, ctx);
    const next: Step<T> = scaled ? { next: scaled.input } : step(node);
    if (!next) return undefined;
    if (scaled) scale *= scaled.factor;
    if (!('stop' in next) || next.keep) nodes.push(node);
    if ('stop' in next) return { stop: next.stop, scale, nodes };
    nodes.push(...(next.via ?? []));
    from = next.via?.at(-1) ?? node;
    value = next.next;
  }
  return undefined;
}

/** Walks back from a MatMul operand through scalings, Transposes and Reshapes to the 3-D projection. */
function walkOperand(start: string, reader: Node, ctx: MatchContext): Operand | undefined {
  const layout: LayoutStep[] = [];
  const walked = walkBack(start, reader, ctx, (node): Step<string> => {
    if (node.opType !== 'Transpose' && node.opType !== 'Reshape') return undefined;
    const swapped = swapsLastTwo(node, ctx);
    if (swapped) {
      layout.push({ node, perm: [0, 1, 3, 2] });
      return { next: swapped.source, via: swapped.via };
    }
    layout.push({ node, perm: node.opType === 'Transpose' ? (intsAttribute(node, 'perm') ?? []) : undefined });
    const input = node.input?.[0] ?? '';
    const splitsHeads = node.opType === 'Reshape' && ctx.shapes.get(input)?.length === 3 && reshapeSpec(node, ctx.shapes)?.length === 4;
    return splitsHeads ? { stop: input, keep: true } : { next: input };
  });
  if (!walked) return undefined;
  let { stop: source, scale } = walked;
  const nodes = [...walked.nodes];
  // A scale on the 3-D projection (transformers' CLIPAttention scales q before the split) joins the chain when the split alone reads it.
  for (let reader = layout.at(-1)!.node; nodes.length < STEP_LIMIT; ) {
    const node = ctx.index.producer.get(source);
    const scaled = isDefaultDomain(node) && nextReader(source, ctx) === reader ? scaling(node, ctx) : undefined;
    if (!scaled) break;
    nodes.push(node!);
    scale *= scaled.factor;
    source = scaled.input;
    reader = node!;
  }
  return { source, steps: foldTransposes(layout.reverse()), scale, nodes };
}

/** One layout step: a Reshape (no perm), or a Transpose by `perm` (or a group of nodes provably meaning one). */
interface LayoutStep {
  node: Node;
  perm?: number[];
}

function foldTransposes(steps: LayoutStep[]): LayoutStep[] {
  const folded: LayoutStep[] = [];
  for (const { node, perm } of steps) {
    const last = folded.at(-1);
    if (perm && perm.length > 0 && last?.perm && last.perm.length === perm.length) last.perm = perm.map((p) => last.perm![p]!);
    else folded.push({ node, perm: perm && [...perm] });
  }
  return folded;
}

/** Whether `size` is provably `target`: the same positive size (a number or a symbolic one). */
function provenSize(size: Size, target: Size): boolean {
  return isPositiveSize(size) && size === target;
}

/**
 * onnxscript's kᵀ (torch_lib's SDPA): Reshape of a 4-D [B, h, L, d] to [-1, L, d], Transpose
 * [0, 2, 1], Reshape back to [B, h, d, L], the specs computed from Shape(k) at run time. That is
 * k.transpose(-2, -1) exactly when the first spec folds B·h (named, or -1 with L and d named) and
 * the second names B, h, d, L in that order (one of them may be -1: the element count forces it).
 * `reshape` is the last Reshape; returns k and the Transpose and first Reshape, each read by the
 * next alone.
 */
function swapsLastTwo(reshape: Node, ctx: MatchContext): { source: string; via: Node[] } | undefined {
  if (reshape.opType !== 'Reshape') return undefined;
  const transpose = ctx.index.producer.get(reshape.input?.[0] ?? '');
  if (!isDefaultDomain(transpose) || !isTranspose(transpose, [0, 2, 1]) || nextReader(transpose.output![0]!, ctx) !== reshape) return undefined;
  const fold = ctx.index.producer.get(transpose.input?.[0] ?? '');
  if (!isDefaultDomain(fold) || fold.opType !== 'Reshape' || nextReader(fold.output![0]!, ctx) !== transpose) return undefined;
  const source = fold.input?.[0] ?? '';
  const dims = ctx.shapes.get(source);
  const [foldSpec, backSpec] = [reshapeSpec(fold, ctx.shapes), reshapeSpec(reshape, ctx.shapes)];
  if (dims?.length !== 4 || foldSpec?.length !== 3 || backSpec?.length !== 4) return undefined;
  const [b, h, l, d] = dims;
  const folds = (foldSpec[0] === -1 || provenSize(foldSpec[0], multiplySizes(b, h))) && provenSize(foldSpec[1], l) && provenSize(foldSpec[2], d);
  const back = [b, h, d, l];
  const unchecked = backSpec.filter((size, i) => !provenSize(size, back[i]));
  const unfolds = back.every(isPositiveSize) && (unchecked.length === 0 || (unchecked.length === 1 && unchecked[0] === -1));
  return folds && unfolds ? { source, via: [transpose, fold] } : undefined;
}

function samePerm(perm: number[] | undefined, expected: number[]): boolean {
  return perm !== undefined && perm.length === expected.length && perm.every((p, i) => p === expected[i]);
}

/**
 * Reads an operand's layout: heads split off, moved before the length (and, for k, the head
 * width moved last), optionally folded into the batch. Returns the heads and whether folded.
 */
function operandLayout(operand: Operand, role: 'q' | 'kT' | 'v', ctx: MatchContext): { heads: Heads; folded: boolean } | undefined {
  const [split, ...rest] = operand.steps;
  const heads = split && !split.perm ? headSplit(split.node, ctx.shapes, ctx.shapes.get(operand.source)) : undefined;
  if (!heads) return undefined;
  const fourD = role === 'kT' ? [0, 2, 3, 1] : [0, 2, 1, 3];
  if (rest.length === 1 && samePerm(rest[0]!.perm, fourD)) return { heads, folded: false };
  const foldedLength = role === 'kT' ? 3 : 2;
  if (rest.length !== foldedLength || !samePerm(rest[0]!.perm, [0, 2, 1, 3]) || rest[1]!.perm || !headsToBatch(rest[1]!.node, ctx.shapes, heads)) return undefined;
  if (role === 'kT' && !samePerm(rest[2]!.perm, [0, 2, 1])) return undefined;
  return { heads, folded: true };
}

interface Scores {
  matmul: Node;
  scale: number;
  nodes: Node[];
  /** The values added to the scaled scores, in the order added. */
  masks: string[];
  /**
   * The Reshape pairs each mask was added between, [B·h, Lq, Lk] → [B, h, Lq, Lk] and back (one
   * per mask, or none when the one mask is added to the scores as they are).
   */
  views: { unfold: Node; fold: Node }[];
}

/** From `start` back to the MatMul that made the scores: constant scalings and all-zero addends only. */
function fromMatMul(start: string, reader: Node, ctx: MatchContext): Scores | undefined {
  const walked = walkBack(start, reader, ctx, (node): Step<Node> => {
    if (node.opType === 'MatMul' && (node.input ?? []).length === 2) return { stop: node, keep: false };
    const other = node.opType === 'Add' ? zeroAddendOperand(node, ctx.shapes.get(node.output![0]!), ctx) : undefined;
    return other === undefined ? undefined : { next: other };
  });
  return walked && { matmul: walked.stop, scale: walked.scale, nodes: walked.nodes, masks: [], views: [] };
}

/** The Add writing `value`, read by `reader` alone: its operands as (scores, mask) both ways round. */
function maskAdd(value: string, reader: Node, ctx: MatchContext): { add: Node; readings: [string, string][] } | undefined {
  const add = ctx.index.producer.get(value);
  const [a, b] = add?.input ?? [];
  if (!isDefaultDomain(add) || add.opType !== 'Add' || add.input!.length !== 2 || !a || !b || a === b || nextReader(value, ctx) !== reader) return undefined;
  return { add, readings: [[a, b], [b, a]] };
}

/** The Reshape writing `value`, read by `reader` alone. */
function soleReshape(value: string, reader: Node, ctx: MatchContext): Node | undefined {
  const node = ctx.index.producer.get(value);
  return isDefaultDomain(node) && node.opType === 'Reshape' && nextReader(value, ctx) === reader ? node : undefined;
}

/** One mask added straight before Softmax, after every scaling (as MultiHeadAttention adds attention_bias to q·kᵀ·scale). */
function maskedBeforeSoftmax(softmax: Node, ctx: MatchContext): Scores | undefined {
  const sum = maskAdd(softmax.input?.[0] ?? '', softmax, ctx);
  for (const [scores, mask] of sum?.readings ?? []) {
    const walked = fromMatMul(scores, sum!.add, ctx);
    if (walked) return { ...walked, nodes: [...walked.nodes, sum!.add], masks: [mask] };
  }
  return undefined;
}

/**
 * Masks added one after another, each in a view of the folded scores: Reshape to [B, h, Lq, Lk],
 * Add, Reshape back, as transformers' CLIPAttention adds its causal and padding masks. That the
 * Reshapes mean those views is for the caller to prove, once the heads are known.
 */
function maskedInViews(value: string, reader: Node, ctx: MatchContext): Scores | undefined {
  const fold = soleReshape(value, reader, ctx);
  const sum = fold && maskAdd(fold.input?.[0] ?? '', fold, ctx);
  for (const [scores, mask] of sum?.readings ?? []) {
    const unfold = soleReshape(scores, sum!.add, ctx);
    const inner = unfold?.input?.[0];
    const walked = unfold && inner ? (fromMatMul(inner, unfold, ctx) ?? maskedInViews(inner, unfold, ctx)) : undefined;
    if (walked) return { ...walked, nodes: [...walked.nodes, unfold!, sum!.add, fold!], masks: [...walked.masks, mask], views: [...walked.views, { unfold: unfold!, fold: fold! }] };
  }
  return undefined;
}

/**
 * From the scores to the MatMul that made them: constant scalings and all-zero addends, and any
 * masks added after every scaling. Whether those masks are ones the fused node can take is for
 * the caller to prove.
 */
function walkScores(softmax: Node, ctx: MatchContext): Scores | undefined {
  const input = softmax.input?.[0] ?? '';
  return fromMatMul(input, softmax, ctx) ?? maskedBeforeSoftmax(softmax, ctx) ?? maskedInViews(input, softmax, ctx);
}

/** A constant, or a Cast of one (float16 weights computed in float32): its tensor. */
function weightTensor(value: string, ctx: MatchContext) {
  const cast = ctx.index.producer.get(value);
  const source = cast?.opType === 'Cast' && (cast.domain ?? '') === '' ? (cast.input?.[0] ?? '') : value;
  return ctx.index.constantTensor(source);
}

/** The value a linear projection x·W (+ b) of constant weights projects, so two projections of one x can be told apart. */
function projected(value: string, ctx: MatchContext): string | undefined {
  let node = ctx.index.producer.get(value);
  if (node?.opType === 'Add' && (node.domain ?? '') === '') {
    const [a, b] = node.input ?? [];
    const other = a && weightTensor(a, ctx) ? b : b && weightTensor(b, ctx) ? a : undefined;
    node = other ? ctx.index.producer.get(other) : undefined;
  }
  const weight = node?.opType === 'MatMul' && (node.domain ?? '') === '' ? weightTensor(node.input?.[1] ?? '', ctx) : undefined;
  return weight && (weight.dims ?? []).length === 2 ? node!.input![0] : undefined;
}

/**
 * Whether `mask` provably has its last two sizes equal: a Slice from 0 of a constant whose last
 * two sizes are equal, both axes cut at one end (the builder's causal mask cut to the sequence).
 */
function squareSlice(mask: string, ctx: MatchContext): boolean {
  const { index } = ctx;
  const slice = index.producer.get(mask);
  const [data, starts, ends, axes, steps] = slice?.input ?? [];
  if (slice?.opType !== 'Slice' || (slice.domain ?? '') !== '' || !data || !starts || !ends || !axes) return false;
  const table = index.constantTensor(data);
  const dims = (table?.dims ?? []).map(Number);
  const rank = dims.length;
  if (rank < 2 || dims[rank - 1] !== dims[rank - 2]) return false;
  const cut = index.constantValues(axes)?.map((a) => (a < 0 ? a + rank : a));
  if (cut?.length !== 2 || !cut.includes(rank - 1) || !cut.includes(rank - 2)) return false;
  if (!index.constantValues(starts)?.every((v) => v === 0)) return false;
  if (steps && !index.constantValues(steps)?.every((v) => v === 1)) return false;
  const constantEnds = index.constantValues(ends);
  if (constantEnds) return constantEnds.length === 2 && constantEnds[0] === constantEnds[1];
  const concat = index.producer.get(ends);
  const parts = concat?.input ?? [];
  // Ends as long as the two axes (or the plain Slice fails), so each copy of the one value is one end.
  return concat?.opType === 'Concat' && (concat.domain ?? '') === '' && parts.length === 2 && parts[0] === parts[1];
}

interface BiasContext {
  heads: Heads;
  keyLength: Size;
  folded: boolean;
  /** q and k project the same x, so Lq = Lk. */
  selfAttention: boolean;
}

/**
 * The mask as attention_bias, when it provably broadcasts onto the scores as [B or 1, h or 1, Lq,
 * Lk] does: the batch and head axes 1 or the scores' own, the last two exactly Lq and Lk. A mask
 * that broadcasts over a row or column, or whose sizes cannot be proven, gets undefined.
 */
function attentionBias(mask: string, ctx: MatchContext, b: BiasContext): AttentionBias | undefined {
  const dims = ctx.shapes.get(mask);
  const rank = b.folded ? 3 : 4;
  if (!dims || dims.length > rank || dims.length < 2) return undefined;
  // Heads folded into the batch: the scores' first axis is B·h, which only a 1 broadcasts over alike.
  const padded: Dims = [...new Array<number>(4 - dims.length).fill(1), ...dims];
  if (b.folded && dims.length === 3 && dims[0] !== 1) return undefined;
  const [batch, heads, rows, columns] = padded;
  if (!(batch === 1 || (batch !== undefined && batch === b.heads.batch))) return undefined;
  if (!(heads === 1 || heads === b.heads.heads)) return undefined;
  const [queryLength, keyLength] = [b.heads.length, b.keyLength];
  if (rows !== undefined && columns !== undefined) {
    if (rows !== queryLength || columns !== keyLength) return undefined;
    if (dims.length === 4) return { mask };
    if (typeof rows === 'number' && typeof columns === 'number') return { mask, expandTo: [1, 1, rows, columns] };
    // Sizes left to run time: an L×L mask of self-attention expands to [1, 1, L, L] with L read from the query.
    return b.selfAttention && rows === columns ? { mask, expandTo: 'self-length' } : undefined;
  }
  // A square mask of self-attention is L×L or 1×1 (anything else would fail the plain graph); expanding it to [1, 1, L, L] is right for both.
  return b.selfAttention && squareSlice(mask, ctx) ? { mask, expandTo: 'self-length' } : undefined;
}

/**
 * The sizes of an all-zero tensor: a constant one, or ConstantOfShape of 0 (baddbmm's base in a
 * dynamic-axes export), either times a finite constant (baddbmm's beta of 0).
 */
function zeroDims(value: string, ctx: MatchContext, depth = 0): Dims | undefined {
  const tensor = ctx.index.constantTensor(value);
  if (tensor) return ctx.index.constantValues(value)?.every((v) => v === 0) ? tensorDims(tensor) : undefined;
  const node = ctx.index.producer.get(value);
  if (!isDefaultDomain(node) || depth > 2) return undefined;
  if (node.opType === 'ConstantOfShape') {
    const fill = (node.attribute ?? []).find((a) => a.name === 'value')?.t;
    return !fill || tensorValues(fill, 1)?.[0] === 0 ? ctx.shapes.get(value) : undefined;
  }
  const scaled = scaling(node, ctx);
  return scaled && Number.isFinite(scaled.factor) && zeroDims(scaled.input, ctx, depth + 1) ? ctx.shapes.get(value) : undefined;
}

/**
 * baddbmm(empty, q, kᵀ, beta=0) exports as an Add of a zero tensor: when one operand of `add` is
 * such a tensor that cannot widen the result by broadcasting, the other operand.
 */
function zeroAddendOperand(add: Node, result: Dims | undefined, ctx: MatchContext): string | undefined {
  const inputs = add.input ?? [];
  if (inputs.length !== 2 || !result) return undefined;
  const provenAs = (d: Size, i: number, of: Dims) => d !== undefined && d === result[result.length - of.length + i];
  for (const [zero, other] of [[inputs[1]!, inputs[0]!], [inputs[0]!, inputs[1]!]] as const) {
    const dims = zeroDims(zero, ctx);
    const fits = dims !== undefined && dims.length <= result.length && dims.every((d, i) => d === 1 || provenAs(d, i, dims));
    const otherDims = ctx.shapes.get(other);
    if (fits && otherDims?.length === result.length && otherDims.every((d, i) => provenAs(d, i, otherDims))) return other;
  }
  return undefined;
}

/** From the probabilities·v MatMul forward through the head merge: the merged value and its nodes. */
function walkOutput(pv: Node, heads: Heads, folded: boolean, ctx: MatchContext): { output: string; nodes: Node[] } | undefined {
  const nodes: Node[] = [];
  let value = pv.output![0]!;
  const next = (): Node | undefined => {
    const node = nextReader(value, ctx);
    if (!isDefaultDomain(node) || node.input?.[0] !== value) return undefined;
    nodes.push(node);
    value = node.output![0]!;
    return node;
  };
  if (folded) {
    const unfold = next();
    if (!unfold || !batchToHeads(unfold, ctx.shapes, heads)) return undefined;
  }
  if (!isTranspose(next(), [0, 2, 1, 3])) return undefined;
  const merge = next();
  if (!merge || !mergeHeads(merge, ctx.shapes, heads)) return undefined;
  return { output: value, nodes };
}

/**
 * Whether every value the chain makes, but its output, is read by the chain alone or by nodes
 * that go with it: the Shape → Gather → Concat computing the specs of its own Reshapes, the
 * Shape → Slice → Cast → Sqrt computing its scale, or baddbmm's zero, which nothing else reads
 * once the chain is gone.
 */
function chainSelfContained(nodes: Node[], output: string, kept: string[], ctx: MatchContext): boolean {
  const chain = new Set(nodes);
  const goes = unreadOnceGone(ctx.index, chain, nodes.flatMap((n) => n.input ?? []), new Set(kept)).nodes;
  return nodes.every((node) => (node.output ?? []).every((value) => value === output || (!ctx.index.pinned.has(value) && ctx.index.readersOf(value).every((r) => chain.has(r) || goes.has(r)))));
}

/** A one-element constant BOOL false (onnx-proto leaves BOOL to raw bytes or int32_data). */
function constantFalse(value: string, ctx: MatchContext): boolean {
  const tensor = ctx.index.constantTensor(value);
  if (tensor?.dataType !== onnx.TensorProto.DataType.BOOL || tensorDims(tensor).reduce((a, b) => a * b, 1) !== 1) return false;
  const raw = tensor.rawData && tensor.rawData.length > 0 ? Array.from(tensor.rawData) : Array.from(tensor.int32Data ?? [], Number);
  return raw.length === 1 && raw[0] === 0;
}

/**
 * torch_lib's SDPA always writes Dropout(p, dropout_p) between Softmax and the last MatMul: an
 * identity when `node` is a Dropout of `value` (opset 12 or later: no is_test / ratio attributes)
 * with a constant ratio of exactly 0, training_mode absent or a constant false, and its mask
 * output unwritten or read by nothing. Any other Dropout may drop, and stays.
 */
function inferenceDropout(node: Node | undefined, value: string, ctx: MatchContext): node is Node {
  if (node?.opType !== 'Dropout' || (node.domain ?? '') !== '' || ctx.opset < 12 || node.input?.[0] !== value) return false;
  const [, ratio, training] = node.input;
  const outputs = node.output ?? [];
  if ((node.input.length > 3 || outputs.length < 1 || outputs.length > 2) || !(node.attribute ?? []).every((a) => a.name === 'seed')) return false;
  const ratioValues = ratio ? ctx.index.constantValues(ratio) : undefined;
  if (ratioValues?.length !== 1 || ratioValues[0] !== 0) return false;
  if (training && !constantFalse(training, ctx)) return false;
  const mask = outputs[1];
  return !mask || (!ctx.index.pinned.has(mask) && ctx.index.readersOf(mask).length === 0);
}

function sameSize(a: Size, b: Size): boolean {
  return a === undefined || b === undefined || a === b;
}

export function matchAttention(softmax: Node, ctx: MatchContext): AttentionMatch | undefined {
  if (!isDefaultDomain(softmax) || softmax.opType !== 'Softmax') return undefined;
  const scores = walkScores(softmax, ctx);
  if (!scores) return undefined;
  const [qInput, kInput] = scores.matmul.input as [string, string];
  const q = walkOperand(qInput, scores.matmul, ctx);
  const k = walkOperand(kInput, scores.matmul, ctx);
  const afterSoftmax = nextReader(softmax.output![0]!, ctx);
  const dropout = inferenceDropout(afterSoftmax, softmax.output![0]!, ctx) ? afterSoftmax : undefined;
  const probabilities = dropout ? dropout.output![0]! : softmax.output![0]!;
  const pv = dropout ? nextReader(probabilities, ctx) : afterSoftmax;
  if (!q || !k || !isDefaultDomain(pv) || pv.opType !== 'MatMul' || pv.input?.[0] !== probabilities || (pv.input ?? []).length !== 2) return undefined;
  const v = walkOperand(pv.input![1]!, pv, ctx);
  if (!v || v.scale !== 1) return undefined;
  const [qLayout, kLayout, vLayout] = [operandLayout(q, 'q', ctx), operandLayout(k, 'kT', ctx), operandLayout(v, 'v', ctx)];
  if (!qLayout || !kLayout || !vLayout) return undefined;
  const all = [qLayout, kLayout, vLayout];
  const { heads, headDim } = qLayout.heads;
  if (!all.every((l) => l.folded === qLayout.folded && l.heads.heads === heads && l.heads.headDim === headDim && sameSize(l.heads.batch, qLayout.heads.batch))) return undefined;
  if (!sameSize(kLayout.heads.length, vLayout.heads.length)) return undefined;
  const rank = qLayout.folded ? 3 : 4;
  const axis = intAttribute(softmax, 'axis') ?? (ctx.opset >= 13 ? -1 : 1);
  if (axis !== -1 && axis !== rank - 1) return undefined;
  const scale = q.scale * k.scale * scores.scale;
  if (!(Math.abs(scale * Math.sqrt(headDim) - 1) <= SCALE_TOLERANCE)) return undefined;
  const out = walkOutput(pv, qLayout.heads, qLayout.folded, ctx);
  if (!out) return undefined;
  const keyLength = kLayout.heads.length;
  const viewed = scores.views.length > 0;
  // Masks added in a [B, h, Lq, Lk] view only mean per-head scores when the heads were folded and the views undo each other exactly.
  if (viewed && !(qLayout.folded && scores.views.every((view) => scoresToHeads(view.unfold, ctx.shapes, qLayout.heads, keyLength) && scoresToBatch(view.fold, ctx.shapes, qLayout.heads, keyLength)))) return undefined;
  const selfAttention = projected(q.source, ctx) !== undefined && projected(q.source, ctx) === projected(k.source, ctx);
  const biasContext = { heads: qLayout.heads, keyLength, folded: qLayout.folded && !viewed, selfAttention };
  const biases = scores.masks.map((mask) => attentionBias(mask, ctx, biasContext));
  if (!biases.every((bias): bias is AttentionBias => bias !== undefined)) return undefined;
  const nodes = [...q.nodes, ...k.nodes, ...v.nodes, scores.matmul, ...scores.nodes, softmax, ...(dropout ? [dropout] : []), pv, ...out.nodes];
  if (!chainSelfContained(nodes, out.output, [q.source, k.source, v.source, ...scores.masks], ctx)) return undefined;
  return { query: q.source, key: k.source, value: v.source, output: out.output, numHeads: heads, scale, attentionBias: biases, nodes };
}
