/**
 * Who produces and who reads each value of a graph, and which values are constants (initializers
 * or Constant nodes), so a matcher can walk from a node to its neighbours and know what else
 * would notice if a value disappeared.
 */
import type { Graph, Node, Tensor } from './model-proto.js';
import { tensorValues } from './tensor-values.js';

/** Shapes, axes and scales are tiny; anything bigger is not a constant a matcher should read. */
const MAX_CONSTANT_ELEMENTS = 1 << 16;

export class GraphIndex {
  readonly producer = new Map<string, Node>();
  /** Nodes reading each value, counting a node once per input slot. */
  readonly readers = new Map<string, Node[]>();
  /** Values read from inside subgraphs (If/Loop bodies) or exposed as graph outputs: never removable. */
  readonly pinned = new Set<string>();
  readonly initializers = new Map<string, Tensor>();
  private readonly graphInputs = new Set<string>();

  constructor(readonly graph: Graph) {
    for (const tensor of graph.initializer ?? []) this.initializers.set(tensor.name ?? '', tensor);
    for (const input of graph.input ?? []) this.graphInputs.add(input.name ?? '');
    for (const output of graph.output ?? []) this.pinned.add(output.name ?? '');
    for (const node of graph.node ?? []) {
      for (const output of node.output ?? []) if (output) this.producer.set(output, node);
      for (const input of node.input ?? []) if (input) this.readers.set(input, [...(this.readers.get(input) ?? []), node]);
      for (const attribute of node.attribute ?? []) {
        for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) if (sub) collectNames(sub, this.pinned);
      }
    }
  }

  readersOf(value: string): Node[] {
    return this.readers.get(value) ?? [];
  }

  /** The one node reading `value`, when exactly one does and nothing else can see it. */
  soleReader(value: string): Node | undefined {
    const readers = this.readersOf(value);
    return readers.length === 1 && !this.pinned.has(value) ? readers[0] : undefined;
  }

  /** A constant's tensor: an initializer that is not also a graph input (those can be overridden), or a Constant node's value. */
  constantTensor(value: string): Tensor | undefined {
    const initializer = this.initializers.get(value);
    if (initializer) return this.graphInputs.has(value) ? undefined : initializer;
    const node = this.producer.get(value);
    if (node?.opType !== 'Constant' || (node.domain ?? '') !== '') return undefined;
    const attribute = node.attribute ?? [];
    return attribute.length === 1 && attribute[0]!.name === 'value' ? (attribute[0]!.t ?? undefined) : undefined;
  }

  /** A small constant's values, or undefined when `value` is not a readable constant. */
  constantValues(value: string): number[] | undefined {
    const tensor = this.constantTensor(value);
    return tensor ? tensorValues(tensor, MAX_CONSTANT_ELEMENTS) : undefined;
  }
}

/** Every value name a subgraph reads, its own and those it captures from outer scopes. */
function collectNames(graph: Graph, into: Set<string>): void {
  for (const node of graph.node ?? []) {
    for (const input of node.input ?? []) into.add(input);
    for (const attribute of node.attribute ?? []) for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) if (sub) collectNames(sub, into);
  }
}

/** An attribute's integer list or number, for perm / axis checks. */
export function intsAttribute(node: Node, name: string): number[] | undefined {
  const attribute = (node.attribute ?? []).find((a) => a.name === name);
  return attribute?.ints?.length ? attribute.ints.map(Number) : undefined;
}

export function intAttribute(node: Node, name: string): number | undefined {
  const attribute = (node.attribute ?? []).find((a) => a.name === name);
  return attribute && attribute.i !== undefined && attribute.i !== null ? Number(attribute.i) : undefined;
}
