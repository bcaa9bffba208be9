/**
 * After a rewrite: what only removed nodes read. Constants, initializers and the small
 * computations that fed the removed nodes alone (a dynamic-axes export's Shape → Gather → Concat
 * spec of a Reshape that went) go too; values a remaining node, a subgraph or the graph's outputs
 * read stay, and so does anything that is also a graph input (a caller may feed it).
 */
import { GraphIndex } from './graph-index.js';
import type { Graph, Node } from './model-proto.js';

/**
 * Found back from `candidates`: the nodes and initializers nothing would read once the nodes in
 * `gone` are gone, but for the values in `stillRead`. Only default-domain nodes without subgraphs
 * go, so nothing that could mean more than its outputs does.
 */
export function unreadOnceGone(index: GraphIndex, gone: ReadonlySet<Node>, candidates: string[], stillRead: ReadonlySet<string> = new Set()): { nodes: Set<Node>; initializers: Set<string> } {
  const nodes = new Set<Node>();
  const initializers = new Set<string>();
  const inputs = new Set((index.graph.input ?? []).map((i) => i.name ?? ''));
  const unread = (name: string) => !!name && !stillRead.has(name) && !index.pinned.has(name) && !inputs.has(name) && index.readersOf(name).every((r) => gone.has(r) || nodes.has(r));
  const queue = [...candidates];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (!unread(name)) continue;
    if (index.initializers.has(name)) initializers.add(name);
    const node = index.producer.get(name);
    if (!node || gone.has(node) || nodes.has(node) || !removable(node) || !(node.output ?? []).every((output) => !output || unread(output))) continue;
    nodes.add(node);
    queue.push(...(node.input ?? []));
  }
  return { nodes, initializers };
}

function removable(node: Node): boolean {
  return (node.domain ?? '') === '' && !(node.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length > 0);
}

export function removeUnread(graph: Graph, candidates: string[]): void {
  const { nodes, initializers } = unreadOnceGone(new GraphIndex(graph), new Set(), candidates);
  if (nodes.size === 0 && initializers.size === 0) return;
  graph.node = (graph.node ?? []).filter((node) => !nodes.has(node));
  graph.initializer = (graph.initializer ?? []).filter((tensor) => !initializers.has(tensor.name ?? ''));
}
