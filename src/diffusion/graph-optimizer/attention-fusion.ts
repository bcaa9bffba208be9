/**
 * The attention pass: every plain attention the matcher finds becomes one com.microsoft
 * MultiHeadAttention node writing the same output value, and what only the old nodes used goes.
 */
import { type AttentionMatch, matchAttention } from './attention-match.js';
import { GraphIndex } from './graph-index.js';
import { type Model, type Node, onnx, opsetVersion } from './model-proto.js';
import { removeUnread } from './prune.js';
import { inferShapes } from './static-shapes.js';

export const CONTRIB_DOMAIN = 'com.microsoft';

/** Rewrites `model` in place; returns how many MultiHeadAttention nodes it added. */
export function fuseAttention(model: Model): number {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const ctx = { index, shapes: inferShapes(index), opset: opsetVersion(model) ?? 1 };
  const matches = (graph.node ?? []).filter((node) => node.opType === 'Softmax').map((softmax) => matchAttention(softmax, ctx)).filter((m): m is AttentionMatch => m !== undefined);
  if (matches.length === 0) return 0;

  const names = new Set((graph.node ?? []).map((node) => node.name ?? ''));
  const replaced = new Set<Node>();
  const fusedAt = new Map<Node, Node>();
  for (const match of matches) {
    for (const node of match.nodes) replaced.add(node);
    // The node writing the merged output comes after every q/k/v producer, so the fused node can take its place in topological order.
    fusedAt.set(index.producer.get(match.output)!, fusedNode(match, uniqueName(names, 'MultiHeadAttention_fused')));
  }
  const removedInputs = [...replaced].flatMap((node) => node.input ?? []);
  const producedBefore = (graph.node ?? []).flatMap((node) => node.output ?? []);
  graph.node = (graph.node ?? []).flatMap((node) => (fusedAt.has(node) ? [fusedAt.get(node)!] : replaced.has(node) ? [] : [node]));
  removeUnread(graph, removedInputs);
  // Shapes recorded for values that no longer exist would only mislead a later reader of the graph.
  const kept = new Set((graph.node ?? []).flatMap((node) => node.output ?? []));
  const gone = new Set(producedBefore.filter((name) => !kept.has(name)));
  if (graph.valueInfo?.length) graph.valueInfo = graph.valueInfo.filter((info) => !gone.has(info.name ?? ''));
  if (opsetVersion(model, CONTRIB_DOMAIN) === undefined) model.opsetImport = [...(model.opsetImport ?? []), { domain: CONTRIB_DOMAIN, version: 1 }];
  return matches.length;
}

function fusedNode(match: AttentionMatch, name: string): Node {
  const A = onnx.AttributeProto.AttributeType;
  return onnx.NodeProto.create({
    name,
    opType: 'MultiHeadAttention',
    domain: CONTRIB_DOMAIN,
    input: [match.query, match.key, match.value],
    output: [match.output],
    attribute: [
      { name: 'num_heads', type: A.INT, i: match.numHeads },
      // The graph's own constant, so the fused scores round exactly as the plain ones did.
      { name: 'scale', type: A.FLOAT, f: match.scale },
    ],
  });
}

function uniqueName(taken: Set<string>, base: string): string {
  let n = 0;
  while (taken.has(`${base}_${n}`)) n++;
  const name = `${base}_${n}`;
  taken.add(name);
  return name;
}
