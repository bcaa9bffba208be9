/**
 * The GroupNorm passes, for CUDA only (ONNX Runtime 1.29's CPU and WebGPU providers have no
 * com.microsoft GroupNorm kernel): each plain GroupNorm the matcher finds, with the SiLU after
 * it when there is one, becomes Transpose to NHWC → com.microsoft GroupNorm → Transpose back,
 * writing the same NCHW value, so the rest of the graph is unchanged. Where the GroupNorm reads
 * a feature map plus a time embedding, SkipGroupNorm takes the Add in as well.
 *
 * What the CUDA kernel accepts, read in microsoft/onnxruntime's
 * onnxruntime/contrib_ops/cuda/diffusion/group_norm.cc (ComputeInternal),
 * group_norm_impl.cu (LaunchGroupNormKernel) and group_norm_common_base.{h,cc}
 * (GetChannelsPerBlock, kSizes):
 * - channels_last=1 only: channels_last=0 answers NOT_IMPLEMENTED, hence the Transposes;
 * - X 4-D, float or float16; gamma and beta float32 only, 1-D [C], even when X is float16;
 * - C divisible by groups, channels per group even (two channels per thread) and at most 512
 *   (channels per block must fit the largest block size, 512, and hold whole groups);
 * - SkipGroupNorm's skip (input 3) the shape of X, or (N, C) or (N, 1, 1, C) with N X's batch;
 *   bias (input 4) and the sum S (output 1) optional.
 * Older releases allowed groups = 32 alone, batch ≤ 32 and a fixed list of channel counts; 1.29's
 * kernel sizes its workspace by batch and groups and picks channels per block for any C.
 */
import { GraphIndex } from './graph-index.js';
import { type ChannelWeight, type GroupNormMatch, matchGroupNorm } from './group-norm-match.js';
import { type Model, type Node, onnx } from './model-proto.js';
import { CONTRIB_DOMAIN, spliceFused, takenNames, uniqueName } from './rewrite.js';
import { inferShapes } from './static-shapes.js';
import { matchTimeSkip, type TimeSkip } from './time-skip-match.js';

const A = onnx.AttributeProto.AttributeType;
const T = onnx.TensorProto.DataType;
/** The kernel's largest channels-per-block (kSizes in group_norm_common_base.h). */
const MAX_CHANNELS_PER_GROUP = 512;
const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

/** Whether ORT 1.29's CUDA GroupNorm kernel runs this shape (see the file comment). */
export function cudaGroupNormAccepts(channels: number, groups: number): boolean {
  const perGroup = channels / groups;
  return Number.isInteger(perGroup) && perGroup % 2 === 0 && perGroup <= MAX_CHANNELS_PER_GROUP;
}

/** Rewrites `model` in place; returns how many GroupNorm nodes it added. */
export function fuseGroupNorm(model: Model): number {
  return fuse(model, false);
}

/** Rewrites `model` in place; returns how many SkipGroupNorm nodes it added (run before fuseGroupNorm, which takes the rest). */
export function fuseSkipGroupNorm(model: Model): number {
  return fuse(model, true);
}

function fuse(model: Model, withSkip: boolean): number {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const ctx = { index, shapes: inferShapes(index) };
  const plans = (graph.node ?? [])
    .filter((node) => node.opType === 'InstanceNormalization')
    .map((node) => matchGroupNorm(node, ctx))
    .filter((m): m is GroupNormMatch => m !== undefined && cudaGroupNormAccepts(m.channels, m.groups))
    .map((match) => ({ match, skip: withSkip ? matchTimeSkip(match, ctx) : undefined }))
    .filter((plan) => !withSkip || plan.skip);
  if (plans.length === 0) return 0;

  const taken = takenNames(model);
  const replaced = new Set<Node>();
  const fusedAt = new Map<Node, Node[]>();
  // One NHWC copy per input: a value normalized twice is transposed once.
  const nhwc = new Map<string, string>();
  for (const { match, skip } of plans) {
    for (const node of [...match.nodes, ...(skip ? [skip.add] : [])]) replaced.add(node);
    const nodes: Node[] = [];
    const node = (opType: string, input: string[], attribute: Node['attribute'] = [], output = uniqueName(taken.values, `${match.output}_${opType}`), domain = ''): string => {
      nodes.push(onnx.NodeProto.create({ name: uniqueName(taken.names, `${opType}_group_norm`), opType, domain, input, output: [output], attribute }));
      return output;
    };
    const ints = (values: number[]): string => {
      const name = uniqueName(taken.values, `${match.output}_group_norm_shape`);
      graph.initializer = [...(graph.initializer ?? []), onnx.TensorProto.create({ name, dataType: T.INT64, dims: [values.length], int64Data: values })];
      return name;
    };
    const x = skip?.feature ?? match.input;
    if (!nhwc.has(x)) nhwc.set(x, node('Transpose', [x], [{ name: 'perm', type: A.INTS, ints: TO_NHWC }]));
    const weight = (w: ChannelWeight, role: string) => channelVector(model, w, match.channels, uniqueName(taken.values, `${match.output}_group_norm_${role}`), node);
    const inputs = [nhwc.get(x)!, weight(match.gamma, 'gamma'), weight(match.beta, 'beta')];
    if (skip) inputs.push(timeSkip(skip, match.channels, node, ints));
    const fused = node(skip ? 'SkipGroupNorm' : 'GroupNorm', inputs, [
      { name: 'activation', type: A.INT, i: match.silu ? 1 : 0 },
      { name: 'channels_last', type: A.INT, i: 1 },
      { name: 'epsilon', type: A.FLOAT, f: match.epsilon },
      { name: 'groups', type: A.INT, i: match.groups },
    ], undefined, CONTRIB_DOMAIN);
    node('Transpose', [fused], [{ name: 'perm', type: A.INTS, ints: TO_NCHW }], match.output);
    fusedAt.set(index.producer.get(match.output)!, nodes);
  }
  spliceFused(model, replaced, fusedAt);
  return plans.length;
}

/**
 * gamma or beta as the 1-D float32 [C] the kernel takes: the same stored bytes under dims [C]
 * ([C, 1, 1] and [C] lay out alike, so weights kept in external data are referenced, not read),
 * Cast to float32 when stored otherwise (ONNX Runtime folds that Cast when it loads the model).
 */
function channelVector(model: Model, weight: ChannelWeight, channels: number, name: string, node: (opType: string, input: string[], attribute: Node['attribute']) => string): string {
  const graph = model.graph!;
  graph.initializer = [...(graph.initializer ?? []), onnx.TensorProto.create({ ...weight.tensor, name, dims: [channels] })];
  return weight.tensor.dataType === T.FLOAT ? name : node('Cast', [name], [{ name: 'to', type: A.INT, i: T.FLOAT }]);
}

/**
 * The time embedding [T, C, 1, 1] as the (N, C) skip the kernel takes: reshaped to [T, C] and
 * expanded to X's batch, so one embedding shared by the whole batch (T = 1) is taken as well.
 */
function timeSkip(skip: TimeSkip, channels: number, node: (opType: string, input: string[], attribute?: Node['attribute']) => string, ints: (values: number[]) => string): string {
  const rows = node('Reshape', [skip.embedding, ints([0, channels])]);
  const batch = node('Slice', [node('Shape', [skip.feature]), ints([0]), ints([1])]);
  return node('Expand', [rows, node('Concat', [batch, ints([channels])], [{ name: 'axis', type: A.INT, i: 0 }])]);
}
