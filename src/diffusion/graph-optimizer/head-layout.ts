/**
 * The Reshape and Transpose steps that split a [B, L, h·d] projection into heads and merge the
 * heads back, checked against what they must mean rather than against one exporter's spelling:
 * a Reshape spec may copy a size (0), infer one (-1) or name it, and a step only passes when its
 * numbers leave no other reading. With at most one size unchecked, the element count (which
 * Reshape preserves) forces that one to be right too. A spec computed at run time (a dynamic-axes
 * export's Concat of Shape sizes) is read element by element as static-shapes.ts evaluates it: an
 * element that is "size 0 of q's projection" names the batch exactly as a literal size would.
 */
import { intAttribute, intsAttribute } from './graph-index.js';
import type { Node } from './model-proto.js';
import type { Dims, InferredShapes } from './static-shapes.js';
import { isPositiveSize, multiplySizes, type Size } from './symbolic-sizes.js';

export interface Heads {
  heads: number;
  headDim: number;
  batch?: Size;
  length?: Size;
}

/** A Reshape's spec, constant or evaluated, unless allowzero makes its zeros literal (exporters never set it). */
export function reshapeSpec(node: Node, shapes: InferredShapes): Size[] | undefined {
  if (node.opType !== 'Reshape' || intAttribute(node, 'allowzero') === 1) return undefined;
  return shapes.contents.get(node.input?.[1] ?? '');
}

export function isTranspose(node: Node | undefined, perm: number[]): boolean {
  const actual = node?.opType === 'Transpose' ? intsAttribute(node, 'perm') : undefined;
  return actual !== undefined && actual.length === perm.length && actual.every((p, i) => p === perm[i]);
}

/** Whether a named size provably is `target` (unknown targets prove nothing). */
function names(size: Size, target: Size): boolean {
  return isPositiveSize(size) && size === target;
}

/** At most one of the leading sizes unchecked, and that one a positive size or -1 (never a stray 0). */
function leadingSizesHold(spec: Size[], checks: boolean[]): boolean {
  const unchecked = checks.filter((ok) => !ok).length;
  return unchecked <= 1 && checks.every((ok, i) => ok || spec[i] === -1 || isPositiveSize(spec[i]));
}

/** [B, L, h·d] → [B, L, h, d]: returns the heads, or undefined when the spec means anything else. */
export function headSplit(node: Node, shapes: InferredShapes, source: Dims | undefined): Heads | undefined {
  const spec = reshapeSpec(node, shapes);
  if (!spec || spec.length !== 4 || source?.length !== 3) return undefined;
  const [, , heads, headDim] = spec;
  const width = source[2];
  // The head count and width are numbers even in a dynamic export: the projection's width is its weight's.
  if (typeof heads !== 'number' || typeof headDim !== 'number' || !(heads > 0 && headDim > 0) || width !== heads * headDim) return undefined;
  // Here a 0 copies exactly the size it stands for (batch, length), so it always passes.
  const checks = [0, 1].map((i) => spec[i] === 0 || names(spec[i], source[i]));
  if (!leadingSizesHold(spec, checks)) return undefined;
  const size = (i: number) => source[i] ?? (isPositiveSize(spec[i]) ? spec[i] : undefined);
  return { heads, headDim, batch: size(0), length: size(1) };
}

/**
 * [B, h, L, X] → [B·h, L, X]: a 0 copies B, which is B·h only for one head (the VAE's attention);
 * L and X named, at most one size left to the element count.
 */
function foldsHeads(spec: Size[] | undefined, heads: Heads, width: Size): boolean {
  if (!spec || spec.length !== 3) return false;
  const checks = [(spec[0] === 0 && heads.heads === 1) || names(spec[0], multiplySizes(heads.batch, heads.heads)), names(spec[1], heads.length), names(spec[2], width)];
  return leadingSizesHold(spec, checks);
}

/** [B·h, L, X] → [B, h, L, X], the heads named exactly; the rest as foldsHeads checks it. */
function unfoldsHeads(spec: Size[] | undefined, heads: Heads, width: Size): boolean {
  if (!spec || spec.length !== 4 || spec[1] !== heads.heads) return false;
  const checks = [(spec[0] === 0 && heads.heads === 1) || names(spec[0], heads.batch), names(spec[2], heads.length), names(spec[3], width)];
  return leadingSizesHold([spec[0], spec[2], spec[3]], checks);
}

/** [B, h, L, d] → [B·h, L, d] (heads folded into the batch, diffusers' head_to_batch_dim). */
export function headsToBatch(node: Node, shapes: InferredShapes, heads: Heads): boolean {
  const spec = reshapeSpec(node, shapes);
  return spec?.[2] === heads.headDim && foldsHeads(spec, heads, heads.headDim);
}

/** [B·h, L, d] → [B, h, L, d] (diffusers' batch_to_head_dim, first step). */
export function batchToHeads(node: Node, shapes: InferredShapes, heads: Heads): boolean {
  const spec = reshapeSpec(node, shapes);
  return spec?.[3] === heads.headDim && unfoldsHeads(spec, heads, heads.headDim);
}

/** Folded scores [B·h, Lq, Lk] → [B, h, Lq, Lk], the view transformers' CLIPAttention adds each mask in. */
export function scoresToHeads(node: Node, shapes: InferredShapes, heads: Heads, keyLength: Size): boolean {
  return unfoldsHeads(reshapeSpec(node, shapes), heads, keyLength);
}

/** And back: [B, h, Lq, Lk] → [B·h, Lq, Lk]. */
export function scoresToBatch(node: Node, shapes: InferredShapes, heads: Heads, keyLength: Size): boolean {
  return foldsHeads(reshapeSpec(node, shapes), heads, keyLength);
}

/** [B, L, h, d] → [B, L, h·d]. */
export function mergeHeads(node: Node, shapes: InferredShapes, heads: Heads): boolean {
  const spec = reshapeSpec(node, shapes);
  if (!spec || spec.length !== 3 || spec[2] !== heads.heads * heads.headDim) return false;
  const checks = [spec[0] === 0 || names(spec[0], heads.batch), spec[1] === 0 || names(spec[1], heads.length)];
  return leadingSizesHold(spec, checks);
}
