/**
 * The attention pass: every plain attention the matcher finds becomes one com.microsoft
 * MultiHeadAttention node writing the same output value, and what only the old nodes used goes.
 */
import { type AttentionBias, type AttentionMatch, matchAttention } from './attention-match.js';
import { GraphIndex } from './graph-index.js';
import { type Graph, type Model, type Node, onnx, opsetVersion } from './model-proto.js';
import { CONTRIB_DOMAIN, spliceFused, takenNames, uniqueName } from './rewrite.js';
import { inferShapes } from './static-shapes.js';

/** Rewrites `model` in place; returns how many MultiHeadAttention nodes it added. */
export function fuseAttention(model: Model): number {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const ctx = { index, shapes: inferShapes(index), opset: opsetVersion(model) ?? 1 };
  const matches = (graph.node ?? []).filter((node) => node.opType === 'Softmax').map((softmax) => matchAttention(softmax, ctx)).filter((m): m is AttentionMatch => m !== undefined);
  if (matches.length === 0) return 0;

  const { names, values } = takenNames(model);
  const replaced = new Set<Node>();
  const fusedAt = new Map<Node, Node[]>();
  for (const match of matches) {
    for (const node of match.nodes) replaced.add(node);
    const bias = match.attentionBias.length > 0 ? biasNodes(match, graph, names, values) : { nodes: [], value: '' };
    // The node writing the merged output comes after every q/k/v (and mask) producer, so the fused node can take its place in topological order.
    fusedAt.set(index.producer.get(match.output)!, [...bias.nodes, fusedNode(match, uniqueName(names, 'MultiHeadAttention_fused'), bias.value)]);
  }
  spliceFused(model, replaced, fusedAt);
  return matches.length;
}

/**
 * The masks as one 4-D attention_bias: each itself, or Expand-ed to [1, 1, Lq, Lk] (a constant
 * shape, or for self-attention of unknown length [1, 1, L, L] with L the query's length at run
 * time); two or more summed in the order the scores got them, as (s + m₁) + m₂ = s + (m₁ + m₂)
 * but for rounding.
 */
function biasNodes(match: AttentionMatch, graph: Graph, names: Set<string>, values: Set<string>): { nodes: Node[]; value: string } {
  const nodes: Node[] = [];
  const node = (base: string, opType: string, input: string[], attribute: Node['attribute'] = []): string => {
    const output = uniqueName(values, `${base}_bias_${opType}`);
    nodes.push(onnx.NodeProto.create({ name: uniqueName(names, `${opType}_attention_bias`), opType, input, output: [output], attribute }));
    return output;
  };
  const ints = (base: string, numbers: number[]): string => {
    const name = uniqueName(values, `${base}_bias_shape`);
    graph.initializer = [...(graph.initializer ?? []), onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.INT64, dims: [numbers.length], int64Data: numbers })];
    return name;
  };
  const fourD = ({ mask, expandTo }: AttentionBias): string => {
    if (expandTo === undefined) return mask;
    if (expandTo !== 'self-length') return node(mask, 'Expand', [mask, ints(mask, expandTo)]);
    const length = node(mask, 'Slice', [node(mask, 'Shape', [match.query]), ints(mask, [1]), ints(mask, [2]), ints(mask, [0])]);
    return node(mask, 'Expand', [mask, node(mask, 'Concat', [ints(mask, [1, 1]), length, length], [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }])]);
  };
  const [first, ...rest] = match.attentionBias.map(fourD);
  const value = rest.reduce((sum, mask) => node(sum, 'Add', [sum, mask]), first!);
  return { nodes, value };
}

function fusedNode(match: AttentionMatch, name: string, attentionBias: string): Node {
  const A = onnx.AttributeProto.AttributeType;
  return onnx.NodeProto.create({
    name,
    opType: 'MultiHeadAttention',
    domain: CONTRIB_DOMAIN,
    // Inputs 3 and 4 (projection bias, key padding mask) stay empty; 5 is attention_bias.
    input: attentionBias ? [match.query, match.key, match.value, '', '', attentionBias] : [match.query, match.key, match.value],
    output: [match.output],
    attribute: [
      { name: 'num_heads', type: A.INT, i: match.numHeads },
      // The graph's own constant, so the fused scores round exactly as the plain ones did.
      { name: 'scale', type: A.FLOAT, f: match.scale },
    ],
  });
}
