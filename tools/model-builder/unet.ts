/**
 * UNet2DConditionModel (SD 1.x/2.x layout): sinusoidal timestep embedding + time MLP, conv_in,
 * down blocks collecting skip connections, a cross-attention mid block, up blocks that concatenate
 * the skips back in, and the output head. Inputs and outputs are named as the ONNX exports name them.
 */
import { DataType } from './onnx-graph.js';
import type { PipelineConfig } from './config.js';
import { unetContextDim, vaeScaleFactor } from './config.js';
import { resnetBlock, transformer2d, downsample, upsample, UNET_NORM_EPS } from './blocks.js';
import { startComponent, type BuiltComponent } from './component.js';
import type { Layers } from './layers.js';

/** diffusers' get_timestep_embedding with flip_sin_to_cos=true, downscale_freq_shift=0. */
export function timestepEmbedding(l: Layers, timestep: string, channels: number): string {
  const half = channels / 2;
  const frequencies = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const column = l.graph.node('Unsqueeze', [timestep, l.ints([1])]);
  const angles = l.mul(column, l.graph.floats('time_proj.frequencies', frequencies, [1, half]));
  return l.graph.node('Concat', [l.graph.node('Cos', [angles]), l.graph.node('Sin', [angles])], { axis: 1 });
}

/**
 * LCM's guidance input (diffusers TimestepEmbedding.cond_proj): timestep_cond [B, dim] through a
 * bias-free Linear, added to the sinusoidal timestep projection before the time MLP.
 */
function lcmCondition(l: Layers, dim: number, channels: number): string {
  const condition = l.graph.input('timestep_cond', DataType.FLOAT, ['batch_size', dim]);
  return l.linear(condition, dim, channels, 'time_embedding.cond_proj', false);
}

/**
 * SDXL's addition_embed_type "text_time": each of the six time_ids (original size, crop, target
 * size) sinusoidally embedded (add_time_proj), flattened, placed after the pooled text_embeds, and
 * through the add_embedding MLP; the result is added to the time embedding.
 */
function textTimeEmbedding(l: Layers, textEmbedsDim: number, timeEmbedDim: number, timeChannels: number): string {
  const g = l.graph;
  const textEmbeds = g.input('text_embeds', DataType.FLOAT, ['batch_size', textEmbedsDim]);
  const timeIds = g.input('time_ids', DataType.FLOAT, ['batch_size', 6]);
  const perId = timestepEmbedding(l, g.node('Reshape', [timeIds, l.ints([-1])]), timeEmbedDim);
  const timeEmbeds = g.node('Reshape', [perId, l.ints([-1, 6 * timeEmbedDim])]);
  const inputs = g.node('Concat', [textEmbeds, timeEmbeds], { axis: 1 });
  const width = textEmbedsDim + 6 * timeEmbedDim;
  return l.linear(l.silu(l.linear(inputs, width, timeChannels, 'add_embedding.linear_1')), timeChannels, timeChannels, 'add_embedding.linear_2');
}

export function buildUNet(config: PipelineConfig, seed: number): BuiltComponent {
  const u = config.unet;
  const { layers: l, params } = startComponent('unet', seed, config.weights.dtype);
  l.graph.fusedAttention = config.fusedAttention ?? false;
  const g = l.graph;
  const channels = u.blockOutChannels;
  const blockCount = channels.length;
  const contextDim = unetContextDim(config);
  const timeChannels = 4 * channels[0]!;

  const sample = g.input('sample', DataType.FLOAT, ['batch_size', u.inChannels, 'height', 'width']);
  const timestepDType = u.timestep.dtype === 'int64' ? DataType.INT64 : DataType.FLOAT;
  const timestepInput = g.input('timestep', timestepDType, u.timestep.rank === 0 ? [] : ['steps']);
  const context = g.input('encoder_hidden_states', DataType.FLOAT, ['batch_size', 'sequence_length', contextDim]);

  // Whatever the declared dtype/rank, the embedding works on a float vector [T].
  const timestepFloat = u.timestep.dtype === 'int64' ? g.node('Cast', [timestepInput], { to: DataType.FLOAT }) : timestepInput;
  const timesteps = g.node('Reshape', [timestepFloat, l.ints([-1])]);
  let projected = timestepEmbedding(l, timesteps, channels[0]!);
  if (u.timeCondProjDim !== undefined) projected = l.add(projected, lcmCondition(l, u.timeCondProjDim, channels[0]!));
  let temb = l.linear(l.silu(l.linear(projected, channels[0]!, timeChannels, 'time_embedding.linear_1')), timeChannels, timeChannels, 'time_embedding.linear_2');
  if (u.additionTimeEmbedDim !== undefined) temb = l.add(temb, textTimeEmbedding(l, config.textEncoder2!.projectionDim!, u.additionTimeEmbedDim, timeChannels));
  // Every resnet applies SiLU to the time embedding first; computing it once is the same graph value.
  const timeEmbedding = { value: l.silu(temb), channels: timeChannels };

  const resnet = (x: string, inChannels: number, outChannels: number, name: string): string =>
    resnetBlock(l, x, { inChannels, outChannels, groups: u.normGroups, epsilon: UNET_NORM_EPS, timeEmbedding, name });
  const transformer = (x: string, c: number, heads: number, name: string): string =>
    transformer2d(l, x, context, { channels: c, heads, contextDim, groups: u.normGroups, linearProjection: u.linearProjection, name });

  let h = l.conv2d(sample, u.inChannels, channels[0]!, 'conv_in');
  const skips: { value: string; channels: number }[] = [{ value: h, channels: channels[0]! }];
  let current = channels[0]!;

  for (let i = 0; i < blockCount; i++) {
    const out = channels[i]!;
    for (let j = 0; j < u.layersPerBlock; j++) {
      h = resnet(h, j === 0 ? current : out, out, `down_blocks.${i}.resnets.${j}`);
      if (u.crossAttentionBlocks[i]) h = transformer(h, out, u.attentionHeads[i]!, `down_blocks.${i}.attentions.${j}`);
      skips.push({ value: h, channels: out });
    }
    current = out;
    if (i < blockCount - 1) {
      h = downsample(l, h, out, `down_blocks.${i}.downsamplers.0`);
      skips.push({ value: h, channels: out });
    }
  }

  const last = channels[blockCount - 1]!;
  h = resnet(h, last, last, 'mid_block.resnets.0');
  h = transformer(h, last, u.attentionHeads[blockCount - 1]!, 'mid_block.attentions.0');
  h = resnet(h, last, last, 'mid_block.resnets.1');

  for (let i = 0; i < blockCount; i++) {
    const mirrored = blockCount - 1 - i;
    const out = channels[mirrored]!;
    for (let j = 0; j <= u.layersPerBlock; j++) {
      const skip = skips.pop()!;
      const concatenated = g.node('Concat', [h, skip.value], { axis: 1 });
      h = resnet(concatenated, current + skip.channels, out, `up_blocks.${i}.resnets.${j}`);
      current = out;
      if (u.crossAttentionBlocks[mirrored]) h = transformer(h, out, u.attentionHeads[mirrored]!, `up_blocks.${i}.attentions.${j}`);
    }
    // Upsample to the size of the skip it meets next, as diffusers passes upsample_size.
    if (i < blockCount - 1) h = upsample(l, h, out, `up_blocks.${i}.upsamplers.0`, skips.at(-1)!.value);
  }

  h = l.silu(l.groupNorm(h, channels[0]!, u.normGroups, UNET_NORM_EPS, 'conv_norm_out'));
  g.alias(l.conv2d(h, channels[0]!, u.outChannels, 'conv_out'), 'out_sample');
  g.output('out_sample', DataType.FLOAT, ['batch_size', u.outChannels, 'height', 'width']);
  return { folder: 'unet', graph: g, parameters: params.count };
}

/** unet/config.json, the diffusers keys a loader reads. */
export function unetConfigJson(config: PipelineConfig): Record<string, unknown> {
  const u = config.unet;
  const down = u.crossAttentionBlocks.map((cross) => (cross ? 'CrossAttnDownBlock2D' : 'DownBlock2D'));
  const up = [...u.crossAttentionBlocks].reverse().map((cross) => (cross ? 'CrossAttnUpBlock2D' : 'UpBlock2D'));
  return {
    _class_name: 'UNet2DConditionModel',
    _name_or_path: config.name,
    sample_size: config.sampleSize / vaeScaleFactor(config.vae),
    in_channels: u.inChannels,
    out_channels: u.outChannels,
    block_out_channels: u.blockOutChannels,
    down_block_types: down,
    up_block_types: up,
    layers_per_block: u.layersPerBlock,
    attention_head_dim: u.attentionHeads,
    cross_attention_dim: unetContextDim(config),
    ...(u.additionTimeEmbedDim === undefined
      ? {}
      : {
          addition_embed_type: 'text_time',
          addition_time_embed_dim: u.additionTimeEmbedDim,
          projection_class_embeddings_input_dim: config.textEncoder2!.projectionDim! + 6 * u.additionTimeEmbedDim,
        }),
    ...(u.timeCondProjDim === undefined ? {} : { time_cond_proj_dim: u.timeCondProjDim }),
    norm_num_groups: u.normGroups,
    norm_eps: UNET_NORM_EPS,
    use_linear_projection: u.linearProjection,
    flip_sin_to_cos: true,
    freq_shift: 0,
    act_fn: 'silu',
  };
}
