/**
 * The residual pass: `LayerNorm(a + b)` — and `LayerNorm((x·W + bias) + b)` — as one com.microsoft
 * SkipLayerNormalization(a, b, gamma, beta[, bias]). Where the sum is read elsewhere too (SD's
 * residual stream goes on to the next residual Add), it is the fused node's fourth output,
 * input_skip_bias_sum (docs/ContribOperators.md: outputs output, mean, inv_std_var,
 * input_skip_bias_sum; input and skip 3-D [B, S, C]; gamma, beta, bias [C]; epsilon).
 *
 * Listed for webgpu only. ONNX Runtime's own L2 SkipLayerNormFusion is registered for the CPU,
 * ACL, CUDA, ROCm and DML providers and not for WebGPU (onnxruntime/core/optimizer/
 * graph_transformer_utils.cc, Level2: SkipLayerNormFusion(cpu_acl_cuda_dml_rocm_eps)), so at
 * graphOptimizationLevel 'all' CPU and CUDA sessions fuse it themselves. That fusion
 * (core/optimizer/skip_layer_norm_fusion.cc) takes only sums nothing but the LayerNormalization
 * reads, with both Add inputs 3-D of the same static sizes (a symbolic batch allowed), and writes
 * no input_skip_bias_sum.
 *
 * The WebGPU kernel (contrib_ops/webgpu/bert/skip_layer_norm.cc) normalizes over the last axis,
 * reads skip at the input's own offsets (no broadcasting: skip must have the input's shape) and
 * gamma/beta/bias by channel, for float and float16, and writes outputs 0 and 3 only.
 */
import { CONTRIB_DOMAIN } from './rewrite.js';
import { applyFusions, type Fusion, isPlain, namer } from './fusion-rewrite.js';
import { GraphIndex, intAttribute } from './graph-index.js';
import { type Model, type Node, onnx } from './model-proto.js';
import { sameShape } from './same-shape.js';
import { type Dims, inferShapes } from './static-shapes.js';

/** LayerNormalization's own default, which SkipLayerNormalization's (1e-12) is not. */
const LAYER_NORM_EPSILON = 1e-5;

/** Rewrites `model` in place; returns how many SkipLayerNormalization nodes it added. */
export function fuseSkipLayerNorm(model: Model): number {
  const index = new GraphIndex(model.graph!);
  const shapes = inferShapes(index);
  const name = namer(model);
  const order = new Map((model.graph!.node ?? []).map((node, i) => [node, i]));
  const fusions = (model.graph!.node ?? []).flatMap((node): Fusion[] => {
    const match = matchSkipLayerNorm(node, index, shapes);
    if (!match) return [];
    // A sum read elsewhere may be read before the LayerNormalization's place: the fused node then takes the Add's, which needs gamma and beta written before it.
    const add = match.nodes.at(-2)!;
    const at = match.sum ? add : node;
    const lateWeights = node.input!.slice(1).some((input) => (order.get(index.producer.get(input) ?? add) ?? 0) > order.get(at)!);
    return lateWeights ? [] : [{ nodes: match.nodes, at, fused: fusedNode(match, node, name('SkipLayerNormalization_fused')) }];
  });
  return applyFusions(model, fusions);
}

interface SkipMatch {
  input: string;
  skip: string;
  bias?: string;
  /** The sum, when something besides the LayerNormalization reads it. */
  sum?: string;
  nodes: Node[];
}

function matchSkipLayerNorm(norm: Node, index: GraphIndex, shapes: Map<string, Dims>): SkipMatch | undefined {
  if (!isPlain(norm, 'LayerNormalization') || !norm.input?.[0] || !norm.input[1]) return undefined;
  const [sum, gamma, beta] = norm.input;
  const [rank, channels] = [shapes.get(sum)?.length, shapes.get(sum)?.[2]];
  const axis = intAttribute(norm, 'axis') ?? -1;
  if (rank !== 3 || channels === undefined || (axis !== -1 && axis !== 2) || (intAttribute(norm, 'stash_type') ?? 1) !== 1) return undefined;
  // Mean and InvStdDev are LayerNormalization's training outputs; SkipLayerNormalization's differ.
  if ((norm.output ?? []).slice(1).some(Boolean) || !norm.output?.[0]) return undefined;
  const perChannel = (value: string | undefined) => !value || (shapes.get(value)?.length === 1 && shapes.get(value)![0] === channels);
  if (!perChannel(gamma) || !perChannel(beta)) return undefined;
  const add = index.producer.get(sum);
  if (!isPlain(add, 'Add') || (add.input ?? []).length !== 2 || add.input![0] === add.input![1]) return undefined;
  const [a, b] = add.input as [string, string];
  if (!sameShape(a, b, index, shapes)) return undefined;
  const readElsewhere = index.pinned.has(sum) || index.readersOf(sum).some((reader) => reader !== norm);
  const match: SkipMatch = { input: a, skip: b, sum: readElsewhere ? sum : undefined, nodes: [add, norm] };
  // A projection's bias Add before the sum becomes the bias input (SkipLayerNormalization adds it to input + skip).
  for (const [biased, other] of [[a, b], [b, a]] as const) {
    const biasAdd = index.producer.get(biased);
    if (!isPlain(biasAdd, 'Add') || index.soleReader(biased) !== add) continue;
    for (const [x, bias] of [[biasAdd.input?.[0], biasAdd.input?.[1]], [biasAdd.input?.[1], biasAdd.input?.[0]]]) {
      if (x && bias && shapes.get(bias)?.length === 1 && perChannel(bias) && isPlain(index.producer.get(x), 'MatMul') && sameShape(x, other, index, shapes)) {
        return { ...match, input: x, skip: other, bias, nodes: [biasAdd, add, norm] };
      }
    }
  }
  return match;
}

function fusedNode(match: SkipMatch, norm: Node, name: string): Node {
  const epsilon = (norm.attribute ?? []).find((a) => a.name === 'epsilon')?.f ?? LAYER_NORM_EPSILON;
  const [, gamma, beta] = norm.input!;
  const inputs = [match.input, match.skip, gamma!, beta ?? '', ...(match.bias ? [match.bias] : [])];
  return onnx.NodeProto.create({
    name,
    opType: 'SkipLayerNormalization',
    domain: CONTRIB_DOMAIN,
    input: inputs.length === 4 && !beta ? inputs.slice(0, 3) : inputs,
    output: match.sum ? [norm.output![0]!, '', '', match.sum] : [norm.output![0]!],
    attribute: [{ name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: epsilon }],
  });
}
