/**
 * Splicing fused nodes into a graph in place of the plain ones they replace, shared by the
 * passes: the fused nodes take the place of one replaced node (the one writing the chain's
 * output, which comes after every input's producer, so topological order holds), what only the
 * old nodes read goes, and so do the shapes recorded for values that no longer exist.
 */
import { type Model, type Node, opsetVersion } from './model-proto.js';
import { removeUnread } from './prune.js';

export const CONTRIB_DOMAIN = 'com.microsoft';

/** Drops `replaced`, writes `fusedAt`'s nodes where their key node stood, and imports com.microsoft. */
export function spliceFused(model: Model, replaced: Set<Node>, fusedAt: Map<Node, Node[]>): void {
  const graph = model.graph!;
  const removedInputs = [...replaced].flatMap((node) => node.input ?? []);
  const producedBefore = (graph.node ?? []).flatMap((node) => node.output ?? []);
  graph.node = (graph.node ?? []).flatMap((node) => (fusedAt.has(node) ? fusedAt.get(node)! : replaced.has(node) ? [] : [node]));
  removeUnread(graph, removedInputs);
  // Shapes recorded for values that no longer exist would only mislead a later reader of the graph.
  const kept = new Set((graph.node ?? []).flatMap((node) => node.output ?? []));
  const gone = new Set(producedBefore.filter((name) => !kept.has(name)));
  if (graph.valueInfo?.length) graph.valueInfo = graph.valueInfo.filter((info) => !gone.has(info.name ?? ''));
  if (opsetVersion(model, CONTRIB_DOMAIN) === undefined) model.opsetImport = [...(model.opsetImport ?? []), { domain: CONTRIB_DOMAIN, version: 1 }];
}

/** Every node name and every value name the graph already uses, for fresh ones. */
export function takenNames(model: Model): { names: Set<string>; values: Set<string> } {
  const graph = model.graph!;
  const names = new Set((graph.node ?? []).map((node) => node.name ?? ''));
  const values = new Set([...(graph.node ?? []).flatMap((node) => [...(node.input ?? []), ...(node.output ?? [])]), ...(graph.initializer ?? []).map((t) => t.name ?? ''), ...(graph.input ?? []).map((i) => i.name ?? '')]);
  return { names, values };
}

export function uniqueName(taken: Set<string>, base: string): string {
  let n = 0;
  while (taken.has(`${base}_${n}`)) n++;
  const name = `${base}_${n}`;
  taken.add(name);
  return name;
}
