/**
 * Finds a plain GroupNorm around one InstanceNormalization, in the form torch.onnx.export (opset
 * 17, which has no GroupNormalization) and the project's builder both write: x [N, C, H, W] →
 * Reshape to [N, G, C/G·H·W] → InstanceNormalization with unit scale and zero bias (so each of
 * the N·G rows is normalized over its group's channels and every pixel) → Reshape back to x's
 * shape → Mul by a per-channel gamma → Add a per-channel beta; optionally SiLU spelled
 * x·Sigmoid(x). Each step is checked for what it means, not how it is spelled: the reshapes must
 * group the channel axis and restore x exactly, and gamma and beta must broadcast along the
 * channel axis only. Every value in between must be read by the next step alone.
 */
import type { GraphIndex } from './graph-index.js';
import { intAttribute } from './graph-index.js';
import { type Node, onnx, type Tensor } from './model-proto.js';
import type { Dims } from './static-shapes.js';
import { tensorDims, tensorValues } from './tensor-values.js';

/** A per-channel weight: an initializer, possibly read through the Cast the builder's fp16 storage adds. */
export interface ChannelWeight {
  /** The stored tensor, as it is (float16 under a Cast to float32, say). */
  tensor: Tensor;
  /** The element type the graph computes with it: the Cast's target, or the tensor's own. */
  dataType: number;
}

export interface GroupNormMatch {
  /** The NCHW input. */
  input: string;
  /** The normalized (and activated) NCHW result; the fused chain writes this same value. */
  output: string;
  channels: number;
  groups: number;
  epsilon: number;
  silu: boolean;
  gamma: ChannelWeight;
  beta: ChannelWeight;
  /** Every node the fused chain replaces. */
  nodes: Node[];
}

export interface GroupNormContext {
  index: GraphIndex;
  shapes: Map<string, Dims>;
}

const T = onnx.TensorProto.DataType;
/** InstanceNormalization's default epsilon. */
const DEFAULT_EPSILON = 1e-5;
/** More groups than this is no GroupNorm a diffusion model holds. */
const MAX_GROUPS = 4096;

export function matchGroupNorm(instanceNorm: Node, ctx: GroupNormContext): GroupNormMatch | undefined {
  const { index } = ctx;
  if (instanceNorm.opType !== 'InstanceNormalization' || !isDefault(instanceNorm)) return undefined;
  const [grouped, scaleName, biasName] = instanceNorm.input ?? [];
  const groupReshape = index.producer.get(grouped ?? '');
  if (!groupReshape || groupReshape.opType !== 'Reshape' || !isDefault(groupReshape) || index.soleReader(grouped!) !== instanceNorm) return undefined;
  const input = groupReshape.input![0]!;
  // x must be 4-D with C channels, and gamma and beta hold exactly C values each: the fused op takes them as 1-D [C].
  const channels = channelCount(input, ctx);
  if (channels === undefined) return undefined;
  const xDims = ctx.shapes.get(input) ?? [undefined, channels, undefined, undefined];

  // Unit scale and zero bias, G of each: the InstanceNormalization only normalizes.
  const unitScale = storedValues(scaleName ?? '', index);
  const zeroBias = storedValues(biasName ?? '', index);
  if (!unitScale || !zeroBias || unitScale.length !== zeroBias.length) return undefined;
  const groups = unitScale.length;
  if (groups === 0 || unitScale.some((v) => v !== 1) || zeroBias.some((v) => v !== 0)) return undefined;
  // x's element type (InstanceNormalization's scale has the same): the kernel runs float and float16.
  const dataType = storedConstant(scaleName!, index)?.dataType;
  if (dataType !== T.FLOAT && dataType !== T.FLOAT16) return undefined;

  // The restoring Reshape and the affine, each read by the next alone.
  const restore = index.soleReader(instanceNorm.output![0]!);
  if (restore?.opType !== 'Reshape' || !isDefault(restore)) return undefined;
  const mul = index.soleReader(restore.output![0]!);
  if (mul?.opType !== 'Mul' || !isDefault(mul)) return undefined;
  const gamma = channelOperand(mul, restore.output![0]!, index);
  const add = gamma ? index.soleReader(mul.output![0]!) : undefined;
  if (!gamma || add?.opType !== 'Add' || !isDefault(add)) return undefined;
  const beta = channelOperand(add, mul.output![0]!, index);
  if (!beta) return undefined;

  if (channels % groups !== 0 || tensorChannels(gamma.tensor) !== channels || tensorChannels(beta.tensor) !== channels) return undefined;
  if (!groupsChannels(groupReshape, xDims, groups, channels, index) || !restoresInput(restore, input, xDims, channels, index)) return undefined;

  const nodes = [groupReshape, instanceNorm, restore, mul, add];
  const shape = index.producer.get(restore.input![1]!);
  // Shape(x) goes with the chain unless something else reads it too.
  if (shape?.opType === 'Shape' && index.soleReader(shape.output![0]!) === restore) nodes.push(shape);
  const silu = siluAfter(add.output![0]!, index);
  if (silu) nodes.push(...silu);
  return {
    input,
    output: silu ? silu[1]!.output![0]! : add.output![0]!,
    channels,
    groups,
    epsilon: (instanceNorm.attribute ?? []).find((a) => a.name === 'epsilon')?.f ?? DEFAULT_EPSILON,
    silu: silu !== undefined,
    gamma,
    beta,
    nodes,
  };
}

function isDefault(node: Node): boolean {
  return (node.domain ?? '') === '';
}

/** Reshape to [N or 0, G, C/G·H·W or -1]: the channel axis split into G groups, batch kept. */
function groupsChannels(reshape: Node, x: Dims, groups: number, channels: number, index: GraphIndex): boolean {
  const spec = index.constantValues(reshape.input?.[1] ?? '');
  // allowzero=1 would make a 0 mean an empty axis rather than "keep".
  if (spec?.length !== 3 || intAttribute(reshape, 'allowzero') === 1) return false;
  const [batch, g, rest] = spec as [number, number, number];
  const batchKept = batch === 0 || (x[0] !== undefined && batch === x[0]);
  const restIsGroup = rest === -1 || (typeof x[2] === 'number' && typeof x[3] === 'number' && rest === (channels / groups) * x[2] * x[3]);
  return batchKept && g === groups && restIsGroup;
}

/** Reshape back to x's own shape: Shape(x), or a constant that names each of x's sizes (0 keeps one, one -1 infers one). */
function restoresInput(reshape: Node, input: string, x: Dims, channels: number, index: GraphIndex): boolean {
  const target = reshape.input?.[1] ?? '';
  const shape = index.producer.get(target);
  if (shape?.opType === 'Shape' && isDefault(shape) && shape.input?.[0] === input) {
    return !(shape.attribute ?? []).some((a) => a.name === 'start' || a.name === 'end');
  }
  const spec = index.constantValues(target);
  if (spec?.length !== 4 || intAttribute(reshape, 'allowzero') === 1 || spec.filter((s) => s === -1).length > 1) return false;
  const sizes = [x[0], channels, x[2], x[3]];
  return spec.every((s, i) => s === 0 || s === -1 || s === sizes[i]);
}

/** The operand of `node` that is not `from`, when it is a per-channel initializer ([C, 1, 1] or [1, C, 1, 1]). */
function channelOperand(node: Node, from: string, index: GraphIndex): ChannelWeight | undefined {
  const inputs = node.input ?? [];
  if (inputs.length !== 2 || !inputs.includes(from) || inputs[0] === inputs[1]) return undefined;
  const other = inputs[0] === from ? inputs[1]! : inputs[0]!;
  const weight = storedConstant(other, index);
  return weight && tensorChannels(weight.tensor) !== undefined ? weight : undefined;
}

/** C, when the tensor's dims broadcast against [N, C, H, W] along the channel axis alone. */
function tensorChannels(tensor: Tensor): number | undefined {
  const dims = tensorDims(tensor);
  if (dims.length < 3 || dims.length > 4 || (dims.length === 4 && dims[0] !== 1)) return undefined;
  const [c, h, w] = dims.slice(-3) as [number, number, number];
  return h === 1 && w === 1 && c > 0 ? c : undefined;
}

/**
 * An initializer, itself or behind Identity and Cast nodes: torch's exporter shares equal weights
 * through an Identity, and the builder's float16 storage is Cast up to the float32 it computes in.
 */
function storedConstant(value: string, index: GraphIndex, depth = 0): ChannelWeight | undefined {
  const direct = index.constantTensor(value);
  if (direct) return { tensor: direct, dataType: direct.dataType ?? 0 };
  const node = index.producer.get(value);
  if (!node || !isDefault(node) || depth > 3 || (node.opType !== 'Identity' && node.opType !== 'Cast')) return undefined;
  const source = storedConstant(node.input?.[0] ?? '', index, depth + 1);
  if (!source || node.opType === 'Identity') return source;
  const to = intAttribute(node, 'to');
  return to === T.FLOAT || to === T.FLOAT16 ? { tensor: source.tensor, dataType: to } : undefined;
}

function storedValues(value: string, index: GraphIndex): number[] | undefined {
  const source = storedConstant(value, index);
  return source ? tensorValues(source.tensor, MAX_GROUPS) : undefined;
}

/** Sigmoid(v) and Mul(v, Sigmoid(v)), when they are all that read v. */
function siluAfter(value: string, index: GraphIndex): [Node, Node] | undefined {
  const readers = index.readersOf(value);
  if (readers.length !== 2 || index.pinned.has(value)) return undefined;
  const sigmoid = readers.find((n) => n.opType === 'Sigmoid' && isDefault(n));
  const mul = readers.find((n) => n.opType === 'Mul' && isDefault(n));
  if (!sigmoid || !mul || index.soleReader(sigmoid.output![0]!) !== mul) return undefined;
  const inputs = mul.input ?? [];
  return inputs.length === 2 && inputs.includes(value) && inputs.includes(sigmoid.output![0]!) ? [sigmoid, mul] : undefined;
}

const SAME_CHANNELS = new Set(['Identity', 'Cast', 'Sigmoid', 'Relu', 'Tanh', 'Resize', 'Upsample', 'MaxPool', 'AveragePool', 'Dropout', 'InstanceNormalization']);
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div']);
const CHANNEL_DEPTH = 16;

/**
 * The channel count (axis 1) of a value proven 4-D: declared, or worked out from the Conv weights
 * that made it and the shape-keeping ops after them (the shape pass knows a Conv's rank only
 * from its input's, and loses it at a Reshape to a computed Shape, as each GroupNorm ends).
 */
export function channelCount(value: string, ctx: GroupNormContext, depth = 0): number | undefined {
  const known = ctx.shapes.get(value);
  if (known && known.length !== 4) return undefined;
  // A symbolic size (static-shapes.ts) is no channel count: those are numbers, traced below.
  if (typeof known?.[1] === 'number') return known[1];
  const node = ctx.index.producer.get(value);
  if (!node || !isDefault(node) || depth > CHANNEL_DEPTH) return undefined;
  const op = node.opType ?? '';
  const inputs = node.input ?? [];
  if (op === 'Conv') {
    const weight = storedConstant(inputs[1] ?? '', ctx.index);
    const dims = weight ? tensorDims(weight.tensor) : [];
    return dims.length === 4 ? dims[0] : undefined;
  }
  if (op === 'Reshape') {
    // Reshape(v, Shape(y)) is y's shape.
    const shape = ctx.index.producer.get(inputs[1] ?? '');
    const plainShape = shape?.opType === 'Shape' && isDefault(shape) && !(shape.attribute ?? []).length;
    return plainShape ? channelCount(shape.input?.[0] ?? '', ctx, depth + 1) : undefined;
  }
  if (SAME_CHANNELS.has(op)) return channelCount(inputs[0] ?? '', ctx, depth + 1);
  if (op === 'Concat' && intAttribute(node, 'axis') === 1) {
    // A UNet's skip connection: the channels of each part, added up.
    const counts = inputs.map((input) => channelCount(input, ctx, depth + 1));
    return counts.every((c) => c !== undefined) ? (counts as number[]).reduce((a, b) => a + b, 0) : undefined;
  }
  if (ELEMENTWISE.has(op) && inputs.length === 2) {
    // A 4-D operand's channels; a lower-rank one (a scalar, or [C, 1, 1]) broadcasts into them. One must be 4-D.
    const lower = inputs.map((input) => (ctx.shapes.get(input)?.length ?? 4) < 4);
    const counts = inputs.map((input, i) => (lower[i] ? tensorOrOne(input, ctx) : channelCount(input, ctx, depth + 1)));
    if (lower.every(Boolean) || counts.some((c) => c === undefined)) return undefined;
    const [a, b] = counts as [number, number];
    return a === b || b === 1 ? a : a === 1 ? b : undefined;
  }
  return undefined;
}

/** The channels a lower-rank constant operand broadcasts along: C for [C, 1, 1], 1 for a scalar or [1, 1, W]. */
function tensorOrOne(value: string, ctx: GroupNormContext): number | undefined {
  const dims = ctx.shapes.get(value);
  if (!dims || dims.some((d) => typeof d !== 'number')) return undefined;
  return dims.length === 3 ? (dims[0] as number) : 1;
}
