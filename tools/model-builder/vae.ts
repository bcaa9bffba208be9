/**
 * AutoencoderKL halves as SD exports them: vae_decoder (post_quant_conv + Decoder) and vae_encoder
 * (Encoder + quant_conv). Both share the mid block: resnet, single-head attention, resnet.
 */
import { DataType } from './onnx-graph.js';
import type { PipelineConfig } from './config.js';
import { resnetBlock, vaeAttention, downsample, upsample, VAE_NORM_EPS } from './blocks.js';
import { startComponent, type BuiltComponent } from './component.js';
import type { Layers } from './layers.js';

function midBlock(l: Layers, x: string, channels: number, groups: number, prefix: string): string {
  const resnet = (h: string, name: string): string => resnetBlock(l, h, { inChannels: channels, outChannels: channels, groups, epsilon: VAE_NORM_EPS, name });
  const h = resnet(x, `${prefix}.mid_block.resnets.0`);
  return resnet(vaeAttention(l, h, channels, groups, `${prefix}.mid_block.attentions.0`), `${prefix}.mid_block.resnets.1`);
}

/** latent_sample [B, latent, h, w] → sample [B, 3, 8h, 8w] (for the usual 4 VAE stages). */
export function buildVaeDecoder(config: PipelineConfig, seed: number): BuiltComponent {
  const v = config.vae;
  const { layers: l, params } = startComponent('vae_decoder', seed, config.weights.dtype);
  l.graph.fusedAttention = config.fusedAttention ?? false;
  const g = l.graph;
  const reversed = [...v.blockOutChannels].reverse();
  const latent = g.input('latent_sample', DataType.FLOAT, ['batch_size', v.latentChannels, 'latent_height', 'latent_width']);

  let h = l.conv2d(latent, v.latentChannels, v.latentChannels, 'post_quant_conv', { kernel: 1 });
  h = l.conv2d(h, v.latentChannels, reversed[0]!, 'decoder.conv_in');
  h = midBlock(l, h, reversed[0]!, v.normGroups, 'decoder');
  let current = reversed[0]!;
  reversed.forEach((out, i) => {
    // Decoder up blocks have one resnet more than the encoder's down blocks, as in diffusers.
    for (let j = 0; j <= v.layersPerBlock; j++) {
      h = resnetBlock(l, h, { inChannels: current, outChannels: out, groups: v.normGroups, epsilon: VAE_NORM_EPS, name: `decoder.up_blocks.${i}.resnets.${j}` });
      current = out;
    }
    if (i < reversed.length - 1) h = upsample(l, h, out, `decoder.up_blocks.${i}.upsamplers.0`);
  });
  h = l.silu(l.groupNorm(h, current, v.normGroups, VAE_NORM_EPS, 'decoder.conv_norm_out'));
  g.alias(l.conv2d(h, current, 3, 'decoder.conv_out'), 'sample');
  g.output('sample', DataType.FLOAT, ['batch_size', 3, 'height', 'width']);
  return { folder: 'vae_decoder', graph: g, parameters: params.count };
}

/**
 * sample [B, 3, H, W] → latent_sample [B, latent, H/8, W/8]. Outputs the latent distribution's
 * mean rather than a random draw from it, so the graph is deterministic (no RandomNormalLike).
 */
export function buildVaeEncoder(config: PipelineConfig, seed: number): BuiltComponent {
  const v = config.vae;
  const { layers: l, params } = startComponent('vae_encoder', seed, config.weights.dtype);
  const g = l.graph;
  const channels = v.blockOutChannels;
  const image = g.input('sample', DataType.FLOAT, ['batch_size', 3, 'height', 'width']);

  let h = l.conv2d(image, 3, channels[0]!, 'encoder.conv_in');
  let current = channels[0]!;
  channels.forEach((out, i) => {
    for (let j = 0; j < v.layersPerBlock; j++) {
      h = resnetBlock(l, h, { inChannels: current, outChannels: out, groups: v.normGroups, epsilon: VAE_NORM_EPS, name: `encoder.down_blocks.${i}.resnets.${j}` });
      current = out;
    }
    if (i < channels.length - 1) h = downsample(l, h, out, `encoder.down_blocks.${i}.downsamplers.0`, true);
  });
  h = midBlock(l, h, current, v.normGroups, 'encoder');
  h = l.silu(l.groupNorm(h, current, v.normGroups, VAE_NORM_EPS, 'encoder.conv_norm_out'));
  const moments = 2 * v.latentChannels;
  h = l.conv2d(l.conv2d(h, current, moments, 'encoder.conv_out'), moments, moments, 'quant_conv', { kernel: 1 });
  // Channels [0, latent) are the mean, [latent, 2·latent) the log-variance.
  g.node('Slice', [h, l.ints([0]), l.ints([v.latentChannels]), l.ints([1])], {}, ['latent_sample']);
  g.output('latent_sample', DataType.FLOAT, ['batch_size', v.latentChannels, 'latent_height', 'latent_width']);
  return { folder: 'vae_encoder', graph: g, parameters: params.count };
}

/** vae_decoder/config.json and vae_encoder/config.json: AutoencoderKL's keys. */
export function vaeConfigJson(config: PipelineConfig): Record<string, unknown> {
  const v = config.vae;
  const stages = v.blockOutChannels.length;
  return {
    _class_name: 'AutoencoderKL',
    _name_or_path: config.name,
    in_channels: 3,
    out_channels: 3,
    latent_channels: v.latentChannels,
    block_out_channels: v.blockOutChannels,
    down_block_types: Array(stages).fill('DownEncoderBlock2D'),
    up_block_types: Array(stages).fill('UpDecoderBlock2D'),
    layers_per_block: v.layersPerBlock,
    norm_num_groups: v.normGroups,
    act_fn: 'silu',
    sample_size: config.sampleSize,
    scaling_factor: v.scalingFactor,
  };
}
