/**
 * The primitive layers every component is built from, emitted as the opset-17 node patterns that
 * PyTorch's exporter produces for them (Linear = MatMul + Add, GroupNorm via InstanceNormalization,
 * GELU via Erf, attention as MatMul/Softmax over reshaped heads).
 */
import type { GraphBuilder } from './onnx-graph.js';
import type { Parameters } from './weights.js';

export interface AttentionOptions {
  queryDim: number;
  /** Width of the keys/values source; equals queryDim for self-attention. */
  contextDim: number;
  heads: number;
  /** CLIP and the VAE put biases on q/k/v; the UNet's attention does not. */
  qkvBias: boolean;
  /** Added to the scores before Softmax (e.g. a causal mask), broadcast over batch and heads. */
  mask?: string;
  name: string;
}

export class Layers {
  private readonly constants = new Map<string, string>();

  constructor(
    readonly graph: GraphBuilder,
    readonly params: Parameters,
  ) {}

  /** A float32 constant, shared by every node that needs the same value. */
  scalar(value: number): string {
    return this.cached(`f:${value}`, () => this.graph.floats('const', [value], []));
  }

  /** An int64 1-D constant (shapes, axes, slice bounds), shared like scalar(). */
  ints(values: number[]): string {
    return this.cached(`i:${values.join(',')}`, () => this.graph.int64s('const', values));
  }

  /** A float32 1-D constant, shared like scalar(). */
  floatVector(values: number[]): string {
    return this.cached(`v:${values.join(',')}`, () => this.graph.floats('const', values));
  }

  add(a: string, b: string): string {
    return this.graph.node('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.graph.node('Mul', [a, b]);
  }

  /** y = x·W + b with W stored [in, out], as exporters store it for MatMul. */
  linear(x: string, inFeatures: number, outFeatures: number, name: string, bias = true): string {
    const weight = this.params.weight(`${name}.weight`, [inFeatures, outFeatures], inFeatures);
    const y = this.graph.node('MatMul', [x, weight]);
    return bias ? this.add(y, this.params.bias(`${name}.bias`, outFeatures, inFeatures)) : y;
  }

  /** NCHW convolution; `pads` as ONNX orders them (top, left, bottom, right), default "same". */
  conv2d(x: string, inChannels: number, outChannels: number, name: string, options: { kernel?: number; stride?: number; pads?: number[] } = {}): string {
    const kernel = options.kernel ?? 3;
    const half = Math.floor(kernel / 2);
    const fanIn = inChannels * kernel * kernel;
    const weight = this.params.weight(`${name}.weight`, [outChannels, inChannels, kernel, kernel], fanIn);
    const bias = this.params.bias(`${name}.bias`, outChannels, fanIn);
    return this.graph.node('Conv', [x, weight, bias], {
      kernel_shape: [kernel, kernel],
      strides: [options.stride ?? 1, options.stride ?? 1],
      pads: options.pads ?? [half, half, half, half],
    });
  }

  /**
   * GroupNorm on NCHW. Opset 17 has no GroupNormalization, so (like the exporters) fold the groups
   * into the channel axis, InstanceNormalization with unit scale, unfold, then the learned affine.
   */
  groupNorm(x: string, channels: number, groups: number, epsilon: number, name: string): string {
    const shape = this.graph.node('Shape', [x]);
    const grouped = this.graph.node('Reshape', [x, this.ints([0, groups, -1])]);
    const unitScale = this.cached(`ones:${groups}`, () => this.graph.floats('instance_norm_scale', new Float32Array(groups).fill(1)));
    const zeroBias = this.cached(`zeros:${groups}`, () => this.graph.floats('instance_norm_bias', new Float32Array(groups)));
    const normed = this.graph.node('InstanceNormalization', [grouped, unitScale, zeroBias], { epsilon: { float: epsilon } });
    const restored = this.graph.node('Reshape', [normed, shape]);
    const gamma = this.params.filled(`${name}.weight`, [channels, 1, 1], 1);
    const beta = this.params.filled(`${name}.bias`, [channels, 1, 1], 0);
    return this.add(this.mul(restored, gamma), beta);
  }

  layerNorm(x: string, dim: number, epsilon: number, name: string): string {
    const gamma = this.params.filled(`${name}.weight`, [dim], 1);
    const beta = this.params.filled(`${name}.bias`, [dim], 0);
    return this.graph.node('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: { float: epsilon } });
  }

  silu(x: string): string {
    return this.mul(x, this.graph.node('Sigmoid', [x]));
  }

  /** Exact GELU, 0.5·x·(1 + erf(x/√2)): opset 17 has no Gelu op. */
  gelu(x: string): string {
    const erf = this.graph.node('Erf', [this.mul(x, this.scalar(Math.SQRT1_2))]);
    return this.mul(this.mul(x, this.add(erf, this.scalar(1))), this.scalar(0.5));
  }

  /** OpenAI CLIP's activation: x·sigmoid(1.702·x). */
  quickGelu(x: string): string {
    return this.mul(x, this.graph.node('Sigmoid', [this.mul(x, this.scalar(1.702))]));
  }

  /** [B, C, H, W] → [B, H·W, C]: a feature map as a token sequence for attention. */
  toTokens(x: string): string {
    const flat = this.graph.node('Reshape', [x, this.ints([0, 0, -1])]);
    return this.graph.node('Transpose', [flat], { perm: [0, 2, 1] });
  }

  /** [B, H·W, C] → the NCHW shape of `like` (which must have C channels). */
  fromTokens(tokens: string, like: string): string {
    const channelsFirst = this.graph.node('Transpose', [tokens], { perm: [0, 2, 1] });
    return this.graph.node('Reshape', [channelsFirst, this.graph.node('Shape', [like])]);
  }

  /**
   * Nearest-neighbour ×2, the Resize PyTorch exports for F.interpolate(scale_factor=2). With
   * `sizeLike`, to that tensor's height and width instead (diffusers' `upsample_size`): a latent
   * side that is odd at some level (a 72-pixel image: 9 → 5 → 9) then still meets its skip.
   */
  upsampleNearest2x(x: string, sizeLike?: string): string {
    const scalesOrSizes = sizeLike
      ? ['', this.graph.node('Concat', [this.graph.node('Slice', [this.graph.node('Shape', [x]), this.ints([0]), this.ints([2])]), this.graph.node('Slice', [this.graph.node('Shape', [sizeLike]), this.ints([2]), this.ints([4])])], { axis: 0 })]
      : [this.floatVector([1, 1, 2, 2])];
    return this.graph.node('Resize', [x, '', ...scalesOrSizes], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  }

  /**
   * Multi-head attention of x [B, Lq, queryDim] over context [B, Lk, contextDim]: project, split the
   * width into heads ([B, heads, L, headDim]), softmax(q·kᵀ/√headDim)·v, merge heads, project out.
   */
  attention(x: string, context: string, options: AttentionOptions): string {
    const { queryDim, contextDim, heads, qkvBias, name } = options;
    const headDim = queryDim / heads;
    const q = this.linear(x, queryDim, queryDim, `${name}.to_q`, qkvBias);
    const k = this.linear(context, contextDim, queryDim, `${name}.to_k`, qkvBias);
    const v = this.linear(context, contextDim, queryDim, `${name}.to_v`, qkvBias);
    if (this.graph.fusedAttention && !options.mask) {
      const attended = this.graph.contribNode('MultiHeadAttention', [q, k, v], { num_heads: heads });
      return this.linear(attended, queryDim, queryDim, `${name}.to_out`);
    }
    const splitHeads = this.ints([0, 0, heads, headDim]);
    const qHeads = this.graph.node('Transpose', [this.graph.node('Reshape', [q, splitHeads])], { perm: [0, 2, 1, 3] });
    const kHeadsT = this.graph.node('Transpose', [this.graph.node('Reshape', [k, splitHeads])], { perm: [0, 2, 3, 1] });
    const vHeads = this.graph.node('Transpose', [this.graph.node('Reshape', [v, splitHeads])], { perm: [0, 2, 1, 3] });
    // Scaling q (L×d) instead of the scores (L×L) is the same math with less work.
    const scores = this.graph.node('MatMul', [this.mul(qHeads, this.scalar(1 / Math.sqrt(headDim))), kHeadsT]);
    const probs = this.graph.node('Softmax', [options.mask ? this.add(scores, options.mask) : scores], { axis: -1 });
    const merged = this.graph.node('Transpose', [this.graph.node('MatMul', [probs, vHeads])], { perm: [0, 2, 1, 3] });
    const flat = this.graph.node('Reshape', [merged, this.ints([0, 0, queryDim])]);
    return this.linear(flat, queryDim, queryDim, `${name}.to_out`);
  }

  private cached(key: string, make: () => string): string {
    let name = this.constants.get(key);
    if (name === undefined) {
      name = make();
      this.constants.set(key, name);
    }
    return name;
  }
}
