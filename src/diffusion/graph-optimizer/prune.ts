/**
 * After a rewrite: the Constant nodes and initializers that only removed nodes read. Values a
 * remaining node, a subgraph or the graph's outputs read stay, and so does anything that is
 * also a graph input (a caller may feed it).
 */
import { GraphIndex } from './graph-index.js';
import type { Graph } from './model-proto.js';

export function removeUnread(graph: Graph, candidates: string[]): void {
  const index = new GraphIndex(graph);
  const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''));
  const unread = new Set(candidates.filter((name) => name && index.readersOf(name).length === 0 && !index.pinned.has(name) && !inputs.has(name)));
  if (unread.size === 0) return;
  graph.node = (graph.node ?? []).filter((node) => !(node.opType === 'Constant' && (node.domain ?? '') === '' && unread.has(node.output?.[0] ?? '')));
  graph.initializer = (graph.initializer ?? []).filter((tensor) => !unread.has(tensor.name ?? ''));
}
