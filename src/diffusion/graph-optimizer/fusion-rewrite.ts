/**
 * What the element-wise fusion passes (BiasSplitGelu, BiasAdd, SkipLayerNormalization) share:
 * reading small constants a pattern names, and replacing the matched nodes by one fused node
 * each, through the splice every pass uses (rewrite.ts).
 */
import type { GraphIndex } from './graph-index.js';
import type { Model, Node } from './model-proto.js';
import { spliceFused, takenNames, uniqueName } from './rewrite.js';

/** A constant of exactly one element (any rank) within `relative` of `expected`: float16 exports round √2 to 1.4140625. */
export function isScalarNear(index: GraphIndex, value: string, expected: number, relative = 1e-3): boolean {
  const values = index.constantValues(value);
  return values?.length === 1 && Math.abs(values[0]! - expected) <= relative * Math.abs(expected);
}

/** The input of a two-input node that is not `value`, or undefined when `value` is not exactly one of them. */
export function otherInput(node: Node, value: string): string | undefined {
  const [a, b] = node.input ?? [];
  if ((node.input ?? []).length !== 2 || a === b) return undefined;
  return a === value ? b : b === value ? a : undefined;
}

/** A default-domain node of `opType` (guarding a type a node that fails still has, so the next test can narrow it again). */
export function isPlain(node: Node | undefined, opType: string): node is Node & { opType: string } {
  return node?.opType === opType && (node.domain ?? '') === '';
}

/** A fresh name for each call, none of them taken by a node or value of the graph. */
export function namer(model: Model): (base: string) => string {
  const { names, values } = takenNames(model);
  const taken = new Set([...names, ...values]);
  return (base) => uniqueName(taken, base);
}

export interface Fusion {
  /** Every node the fused node replaces; none may be in another fusion. */
  nodes: Node[];
  /** The matched node whose place the fused node takes: it comes after every producer of the fused node's inputs. */
  at: Node;
  fused: Node;
}

/** Applies fusions whose node sets do not overlap (later ones that overlap an earlier one are skipped); returns how many it applied. */
export function applyFusions(model: Model, fusions: Fusion[]): number {
  const replaced = new Set<Node>();
  const fusedAt = new Map<Node, Node[]>();
  for (const fusion of fusions) {
    if (fusion.nodes.some((node) => replaced.has(node))) continue;
    for (const node of fusion.nodes) replaced.add(node);
    fusedAt.set(fusion.at, [fusion.fused]);
  }
  if (fusedAt.size > 0) spliceFused(model, replaced, fusedAt);
  return fusedAt.size;
}
