/**
 * Tiny pipelines of the other model families people run: SDXL (two encoders, pooled text_embeds,
 * time_ids), SDXL-Turbo and SD-Turbo (trailing spacing, names saying turbo), LCM (timestep_cond),
 * and fp16 variants. Sizes are toy-sized so a test generation takes milliseconds; the family-specific
 * inputs feed the time embedding through full-width layers, so feeding them wrong changes the output.
 */
import { TINY_SD15, TINY_SD2_V, type PipelineConfig } from './config.js';

/**
 * SDXL base at toy size: text_encoder (CLIP-L style, 32 wide) and text_encoder_2 (OpenCLIP style,
 * 48 wide, projection to 16 → text_embeds), UNet context 80 = 32 + 48, three blocks with the first
 * one attention-free as SDXL's is, VAE scaling 0.13025, sample_size 128 (1024 px by default).
 */
export const TINY_SDXL: PipelineConfig = {
  name: 'tiny-sdxl',
  sampleSize: 1024,
  predictionType: 'epsilon',
  scheduler: 'EulerDiscreteScheduler',
  pipelineClass: 'ORTStableDiffusionXLPipeline',
  forceZerosForEmptyPrompt: true,
  tokenizer: { padToken: '<|endoftext|>' },
  tokenizer2: { padToken: '!' },
  textEncoder: { hiddenSize: 32, layers: 2, heads: 2, intermediateSize: 64, activation: 'quick_gelu', maxPositions: 77, inputIdsDType: 'int64', outputHiddenStates: true },
  textEncoder2: { hiddenSize: 48, layers: 2, heads: 2, intermediateSize: 96, activation: 'gelu', maxPositions: 77, inputIdsDType: 'int64', outputHiddenStates: true, projectionDim: 16 },
  unet: {
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [32, 64, 64],
    crossAttentionBlocks: [false, true, true],
    layersPerBlock: 1,
    attentionHeads: [2, 2, 2],
    normGroups: 8,
    linearProjection: true,
    timestep: { dtype: 'float32', rank: 1 },
    additionTimeEmbedDim: 8,
  },
  vae: { latentChannels: 4, blockOutChannels: [16, 32, 32, 32], layersPerBlock: 1, normGroups: 8, scalingFactor: 0.13025 },
  weights: { dtype: 'float32', externalData: false },
  includeVaeEncoder: true,
};

/** SDXL-Turbo: SDXL distilled for 1–4 steps at 512², EulerAncestral with trailing spacing. */
export const TINY_SDXL_TURBO: PipelineConfig = {
  ...TINY_SDXL,
  name: 'tiny-sdxl-turbo',
  sampleSize: 512,
  scheduler: 'EulerAncestralDiscreteScheduler',
  timestepSpacing: 'trailing',
};

/** SD-Turbo: SD 2.1 (OpenCLIP encoder, "!" padding, ε-prediction) distilled for 1–4 steps at 512². */
export const TINY_SD_TURBO: PipelineConfig = {
  ...TINY_SD2_V,
  name: 'tiny-sd-turbo',
  sampleSize: 512,
  predictionType: 'epsilon',
  scheduler: 'EulerDiscreteScheduler',
  timestepSpacing: 'trailing',
};

/** An LCM-distilled SD 1.5 UNet (LCM_Dreamshaper style): guidance comes in through timestep_cond. */
export const TINY_LCM: PipelineConfig = {
  ...TINY_SD15,
  name: 'tiny-lcm-sd15',
  pipelineClass: 'ORTLatentConsistencyModelPipeline',
  scheduler: 'LCMScheduler',
  unet: { ...TINY_SD15.unet, timeCondProjDim: 16 },
};

/** An LCM-distilled SDXL UNet (latent-consistency/lcm-sdxl style): SDXL's inputs plus timestep_cond. */
export const TINY_LCM_SDXL: PipelineConfig = {
  ...TINY_SDXL,
  name: 'tiny-lcm-sdxl',
  pipelineClass: 'ORTLatentConsistencyModelPipeline',
  scheduler: 'LCMScheduler',
  unet: { ...TINY_SDXL.unet, timeCondProjDim: 16 },
};

/**
 * SD 1.5 inpainting (runwayml/stable-diffusion-inpainting style): tiny-sd15 with a UNet whose
 * conv_in takes 9 channels, the latents, the mask and the masked image's latents; its output
 * stays 4 channels. The extra channels go through conv_in's full-width weights, so feeding
 * them wrong changes the output.
 */
export const TINY_SD15_INPAINT: PipelineConfig = {
  ...TINY_SD15,
  name: 'tiny-sd15-inpaint',
  pipelineClass: 'OnnxStableDiffusionInpaintPipeline',
  unet: { ...TINY_SD15.unet, inChannels: 9 },
};

/** The same pipeline stored and fed in half precision, as `optimum-cli export onnx --dtype fp16` writes it. */
export function fp16Variant(config: PipelineConfig): PipelineConfig {
  return { ...config, name: `${config.name}-fp16`, weights: { ...config.weights, dtype: 'float16', io: 'float16' } };
}

export const TINY_SDXL_FP16 = fp16Variant(TINY_SDXL);
export const TINY_LCM_FP16 = fp16Variant(TINY_LCM);
export const TINY_SD_TURBO_FP16 = fp16Variant(TINY_SD_TURBO);
export const TINY_SD15_INPAINT_FP16 = fp16Variant(TINY_SD15_INPAINT);

/** CLI names of the family pipelines, for tools/model-builder/cli.ts. */
export const FAMILY_CONFIGS: Record<string, PipelineConfig> = {
  'tiny-sdxl': TINY_SDXL,
  'tiny-sdxl-turbo': TINY_SDXL_TURBO,
  'tiny-sd-turbo': TINY_SD_TURBO,
  'tiny-lcm': TINY_LCM,
  'tiny-lcm-sdxl': TINY_LCM_SDXL,
  'tiny-sdxl-fp16': TINY_SDXL_FP16,
  'tiny-lcm-fp16': TINY_LCM_FP16,
  'tiny-sd-turbo-fp16': TINY_SD_TURBO_FP16,
};

/**
 * CLI names of the inpainting pipelines, kept apart from FAMILY_CONFIGS: those are the models every
 * text-to-image test generates with, and an inpainting UNet needs a mask and an image.
 */
export const INPAINT_CONFIGS: Record<string, PipelineConfig> = {
  'tiny-sd15-inpaint': TINY_SD15_INPAINT,
  'tiny-sd15-inpaint-fp16': TINY_SD15_INPAINT_FP16,
};
