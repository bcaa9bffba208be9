/**
 * The diffusers building blocks shared by the UNet and the VAE: ResnetBlock2D, Transformer2DModel
 * (with BasicTransformerBlock), the VAE's single-head attention block, and the resamplers.
 */
import type { Layers } from './layers.js';

/** diffusers' norm epsilons: resnets 1e-5 in the UNet and 1e-6 in the VAE; transformers 1e-6. */
export const UNET_NORM_EPS = 1e-5;
export const VAE_NORM_EPS = 1e-6;
const TRANSFORMER_GROUP_NORM_EPS = 1e-6;
const LAYER_NORM_EPS = 1e-5;

export interface ResnetOptions {
  inChannels: number;
  outChannels: number;
  groups: number;
  epsilon: number;
  /** SiLU(time embedding) and its width; the VAE's resnets have none. */
  timeEmbedding?: { value: string; channels: number };
  name: string;
}

/** ResnetBlock2D: norm-SiLU-conv, + time projection, norm-SiLU-conv, + (1×1-projected) input. */
export function resnetBlock(l: Layers, x: string, o: ResnetOptions): string {
  let h = l.conv2d(l.silu(l.groupNorm(x, o.inChannels, o.groups, o.epsilon, `${o.name}.norm1`)), o.inChannels, o.outChannels, `${o.name}.conv1`);
  if (o.timeEmbedding) {
    const projected = l.linear(o.timeEmbedding.value, o.timeEmbedding.channels, o.outChannels, `${o.name}.time_emb_proj`);
    // [T, C] → [T, C, 1, 1] so it broadcasts over the feature map (T is 1 or the batch).
    h = l.add(h, l.graph.node('Unsqueeze', [projected, l.ints([2, 3])]));
  }
  h = l.silu(l.groupNorm(h, o.outChannels, o.groups, o.epsilon, `${o.name}.norm2`));
  h = l.conv2d(h, o.outChannels, o.outChannels, `${o.name}.conv2`);
  const shortcut = o.inChannels === o.outChannels ? x : l.conv2d(x, o.inChannels, o.outChannels, `${o.name}.conv_shortcut`, { kernel: 1 });
  return l.add(shortcut, h);
}

export interface TransformerOptions {
  channels: number;
  heads: number;
  contextDim: number;
  groups: number;
  linearProjection: boolean;
  name: string;
}

/** BasicTransformerBlock on tokens: self-attention, cross-attention, GEGLU feed-forward, each pre-LN + residual. */
function basicTransformerBlock(l: Layers, x: string, context: string, o: TransformerOptions): string {
  const dim = o.channels;
  const name = `${o.name}.transformer_blocks.0`;
  const normed = l.layerNorm(x, dim, LAYER_NORM_EPS, `${name}.norm1`);
  const selfAttention = l.attention(normed, normed, {
    queryDim: dim,
    contextDim: dim,
    heads: o.heads,
    qkvBias: false,
    name: `${name}.attn1`,
  });
  let h = l.add(x, selfAttention);
  const crossAttention = l.attention(l.layerNorm(h, dim, LAYER_NORM_EPS, `${name}.norm2`), context, {
    queryDim: dim,
    contextDim: o.contextDim,
    heads: o.heads,
    qkvBias: false,
    name: `${name}.attn2`,
  });
  h = l.add(h, crossAttention);
  return l.add(h, gegluFeedForward(l, l.layerNorm(h, dim, LAYER_NORM_EPS, `${name}.norm3`), dim, `${name}.ff`));
}

/** GEGLU: project to 2·(4·dim), split, value·GELU(gate), project back. */
function gegluFeedForward(l: Layers, x: string, dim: number, name: string): string {
  const inner = 4 * dim;
  const projected = l.linear(x, dim, 2 * inner, `${name}.net.0.proj`);
  const [value, gate] = l.graph.nodeMulti('Split', [projected, l.ints([inner, inner])], 2, { axis: -1 });
  return l.linear(l.mul(value!, l.gelu(gate!)), inner, dim, `${name}.net.2`);
}

/** Transformer2DModel: GroupNorm, proj_in, one BasicTransformerBlock over H·W tokens, proj_out, + input. */
export function transformer2d(l: Layers, x: string, context: string, o: TransformerOptions): string {
  const c = o.channels;
  const normed = l.groupNorm(x, c, o.groups, TRANSFORMER_GROUP_NORM_EPS, `${o.name}.norm`);
  const tokens = o.linearProjection ? l.linear(l.toTokens(normed), c, c, `${o.name}.proj_in`) : l.toTokens(l.conv2d(normed, c, c, `${o.name}.proj_in`, { kernel: 1 }));
  const transformed = basicTransformerBlock(l, tokens, context, o);
  const out = o.linearProjection ? l.fromTokens(l.linear(transformed, c, c, `${o.name}.proj_out`), x) : l.conv2d(l.fromTokens(transformed, x), c, c, `${o.name}.proj_out`, { kernel: 1 });
  return l.add(out, x);
}

/** The VAE's attention block: GroupNorm, single-head self-attention over H·W tokens, + input. */
export function vaeAttention(l: Layers, x: string, channels: number, groups: number, name: string): string {
  const tokens = l.toTokens(l.groupNorm(x, channels, groups, VAE_NORM_EPS, `${name}.group_norm`));
  const attended = l.attention(tokens, tokens, { queryDim: channels, contextDim: channels, heads: 1, qkvBias: true, name });
  return l.add(l.fromTokens(attended, x), x);
}

/** Downsample2D: a stride-2 3×3 conv. The VAE encoder pads only bottom/right first, as diffusers does. */
export function downsample(l: Layers, x: string, channels: number, name: string, asymmetricPad = false): string {
  return l.conv2d(x, channels, channels, `${name}.conv`, { stride: 2, pads: asymmetricPad ? [0, 0, 1, 1] : [1, 1, 1, 1] });
}

/** Upsample2D: nearest ×2 (or to `sizeLike`'s height and width) then a 3×3 conv. */
export function upsample(l: Layers, x: string, channels: number, name: string, sizeLike?: string): string {
  return l.conv2d(l.upsampleNearest2x(x, sizeLike), channels, channels, `${name}.conv`);
}
