/**
 * Fused com.microsoft operators that only GPU providers run (GroupNorm, BiasSplitGelu, …) spelled
 * back out in standard ONNX, from each operator's published definition, so ONNX Runtime's CPU
 * provider can run an optimized graph and a test can compare it with the plain export. This
 * proves the optimizer wired each fused node (inputs, attributes, layout) as its definition
 * reads; the GPU kernels themselves are checked against the plain graph by bench/gpu.
 *
 * Each operator's expansion lives in its own file and is passed in by the test that needs it.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Graph = onnxProto.onnx.IGraphProto;

/** Builds standard nodes, with fresh value names, that compute what one fused node did. */
export interface ExpansionBuilder {
  /** Adds one default-domain node; returns its (first) output's name, or `outputs` when given. */
  node(opType: string, input: string[], attribute?: Node['attribute'], outputs?: string[]): string;
  /** Adds an initializer of float32 (or int64) values; returns its name. In a float16 graph, CastLike it to the data first. */
  constant(values: number[], dims: number[], type?: 'float32' | 'int64'): string;
  /** The graph being rewritten, for what an expansion needs to read (input types, initializers). */
  readonly graph: Graph;
}

/** Writes the fused node's outputs from its inputs with standard nodes only. */
export type Expansion = (fused: Node, build: ExpansionBuilder) => void;

/**
 * Returns the model with every node of a listed com.microsoft op replaced by its expansion;
 * throws when an op of that domain has no expansion (the CPU provider has a kernel for the
 * ones not listed, such as MultiHeadAttention, which are left as they are).
 */
export function expandContribOps(model: Uint8Array, expansions: Record<string, Expansion>): Uint8Array {
  const decoded = onnx.ModelProto.decode(model);
  const graph = decoded.graph!;
  let serial = 0;
  const fresh = (base: string) => `${base}__reference_${serial++}`;
  const nodes: Node[] = [];
  const build: ExpansionBuilder = {
    graph,
    node(opType, input, attribute = [], outputs) {
      const output = outputs ?? [fresh(opType)];
      nodes.push(onnx.NodeProto.create({ name: fresh(`${opType}_node`), opType, input, output, attribute }));
      return output[0]!;
    },
    constant(values, dims, type = 'float32') {
      const name = fresh('constant');
      graph.initializer = [
        ...(graph.initializer ?? []),
        type === 'int64'
          ? onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values })
          : onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: values }),
      ];
      return name;
    },
  };
  for (const node of graph.node ?? []) {
    const expansion = node.domain === 'com.microsoft' ? expansions[node.opType ?? ''] : undefined;
    if (expansion) expansion(node, build);
    else nodes.push(node);
  }
  graph.node = nodes;
  return onnx.ModelProto.encode(decoded).finish();
}

/** An attribute of the fused node, by name. */
export function attributeOf(node: Node, name: string): onnxProto.onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export const INT = onnx.AttributeProto.AttributeType.INT;
export const INTS = onnx.AttributeProto.AttributeType.INTS;
export const FLOAT = onnx.AttributeProto.AttributeType.FLOAT;
