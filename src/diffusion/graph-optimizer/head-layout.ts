/**
 * The Reshape and Transpose steps that split a [B, L, h·d] projection into heads and merge the
 * heads back, checked against what they must mean rather than against one exporter's spelling:
 * a Reshape spec may copy a size (0), infer one (-1) or name it, and a step only passes when its
 * numbers leave no other reading. With at most one size unchecked, the element count (which
 * Reshape preserves) forces that one to be right too.
 */
import type { GraphIndex } from './graph-index.js';
import { intAttribute, intsAttribute } from './graph-index.js';
import type { Node } from './model-proto.js';
import type { Dims } from './static-shapes.js';

export interface Heads {
  heads: number;
  headDim: number;
  batch?: number;
  length?: number;
}

/** A Reshape's constant spec, unless allowzero makes its zeros literal (exporters never set it). */
export function reshapeSpec(node: Node, index: GraphIndex): number[] | undefined {
  if (node.opType !== 'Reshape' || intAttribute(node, 'allowzero') === 1) return undefined;
  return index.constantValues(node.input?.[1] ?? '');
}

export function isTranspose(node: Node | undefined, perm: number[]): boolean {
  const actual = node?.opType === 'Transpose' ? intsAttribute(node, 'perm') : undefined;
  return actual !== undefined && actual.length === perm.length && actual.every((p, i) => p === perm[i]);
}

/** Whether a named size provably is `target` (unknown targets prove nothing). */
function names(size: number, target: number | undefined): boolean {
  return size > 0 && target !== undefined && size === target;
}

/** At most one of the leading sizes unchecked, and that one a positive size or -1 (never a stray 0). */
function leadingSizesHold(spec: number[], checks: boolean[]): boolean {
  const unchecked = checks.filter((ok) => !ok).length;
  return unchecked <= 1 && checks.every((ok, i) => ok || spec[i] === -1 || spec[i]! > 0);
}

/** [B, L, h·d] → [B, L, h, d]: returns the heads, or undefined when the spec means anything else. */
export function headSplit(node: Node, index: GraphIndex, source: Dims | undefined): Heads | undefined {
  const spec = reshapeSpec(node, index);
  if (!spec || spec.length !== 4 || source?.length !== 3) return undefined;
  const [, , heads, headDim] = spec as [number, number, number, number];
  const width = source[2];
  if (!(heads > 0 && headDim > 0) || width !== heads * headDim) return undefined;
  // Here a 0 copies exactly the size it stands for (batch, length), so it always passes.
  const checks = [0, 1].map((i) => spec[i] === 0 || names(spec[i]!, source[i]));
  if (!leadingSizesHold(spec, checks)) return undefined;
  const size = (i: number) => source[i] ?? (spec[i]! > 0 ? spec[i] : undefined);
  return { heads, headDim, batch: size(0), length: size(1) };
}

/**
 * [B, h, L, X] → [B·h, L, X]: a 0 copies B, which is B·h only for one head (the VAE's attention);
 * L and X named, at most one size left to the element count.
 */
function foldsHeads(spec: number[] | undefined, heads: Heads, width: number | undefined): boolean {
  if (!spec || spec.length !== 3) return false;
  const batchTimesHeads = heads.batch === undefined ? undefined : heads.batch * heads.heads;
  const checks = [(spec[0] === 0 && heads.heads === 1) || names(spec[0]!, batchTimesHeads), names(spec[1]!, heads.length), names(spec[2]!, width)];
  return leadingSizesHold(spec, checks);
}

/** [B·h, L, X] → [B, h, L, X], the heads named exactly; the rest as foldsHeads checks it. */
function unfoldsHeads(spec: number[] | undefined, heads: Heads, width: number | undefined): boolean {
  if (!spec || spec.length !== 4 || spec[1] !== heads.heads) return false;
  const checks = [(spec[0] === 0 && heads.heads === 1) || names(spec[0]!, heads.batch), names(spec[2]!, heads.length), names(spec[3]!, width)];
  return leadingSizesHold([spec[0]!, spec[2]!, spec[3]!], checks);
}

/** [B, h, L, d] → [B·h, L, d] (heads folded into the batch, diffusers' head_to_batch_dim). */
export function headsToBatch(node: Node, index: GraphIndex, heads: Heads): boolean {
  const spec = reshapeSpec(node, index);
  return spec?.[2] === heads.headDim && foldsHeads(spec, heads, heads.headDim);
}

/** [B·h, L, d] → [B, h, L, d] (diffusers' batch_to_head_dim, first step). */
export function batchToHeads(node: Node, index: GraphIndex, heads: Heads): boolean {
  const spec = reshapeSpec(node, index);
  return spec?.[3] === heads.headDim && unfoldsHeads(spec, heads, heads.headDim);
}

/** Folded scores [B·h, Lq, Lk] → [B, h, Lq, Lk], the view transformers' CLIPAttention adds each mask in. */
export function scoresToHeads(node: Node, index: GraphIndex, heads: Heads, keyLength: number | undefined): boolean {
  return unfoldsHeads(reshapeSpec(node, index), heads, keyLength);
}

/** And back: [B, h, Lq, Lk] → [B·h, Lq, Lk]. */
export function scoresToBatch(node: Node, index: GraphIndex, heads: Heads, keyLength: number | undefined): boolean {
  return foldsHeads(reshapeSpec(node, index), heads, keyLength);
}

/** [B, L, h, d] → [B, L, h·d]. */
export function mergeHeads(node: Node, index: GraphIndex, heads: Heads): boolean {
  const spec = reshapeSpec(node, index);
  if (!spec || spec.length !== 3 || spec[2] !== heads.heads * heads.headDim) return false;
  const checks = [spec[0] === 0 || names(spec[0]!, heads.batch), spec[1] === 0 || names(spec[1]!, heads.length)];
  return leadingSizesHold(spec, checks);
}
