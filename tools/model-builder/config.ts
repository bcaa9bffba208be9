/**
 * What a generated Stable Diffusion pipeline looks like: sizes, dtypes and the choices that differ
 * between SD 1.x and SD 2.x exports. Field names follow diffusers' config.json keys where one exists.
 */

export type PredictionType = 'epsilon' | 'v_prediction';
export type SchedulerClass = 'PNDMScheduler' | 'EulerDiscreteScheduler' | 'DDIMScheduler' | 'EulerAncestralDiscreteScheduler' | 'LCMScheduler';
/** How weights are stored on disk; float16 weights get a Cast to float32 after them, so compute stays fp32. */
export type WeightDType = 'float32' | 'float16';

export interface TokenizerConfig {
  /** "<|endoftext|>" for SD 1.x (CLIP), "!" for SD 2.x (OpenCLIP). */
  padToken: string;
  /**
   * Total vocabulary size, padded with filler merges to reach it (49408 is CLIP's); leave out for
   * the natural size of the tiny vocabulary. The text encoder's embedding table has this many rows.
   */
  vocabSize?: number;
}

export interface TextEncoderConfig {
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  /** quick_gelu (x·sigmoid(1.702x)) for OpenAI CLIP in SD 1.x, gelu for OpenCLIP in SD 2.x. */
  activation: 'quick_gelu' | 'gelu';
  /** Learned position embeddings; also the tokenizer's model_max_length. */
  maxPositions: number;
  /** Older diffusers exports take int32 ids, others int64. */
  inputIdsDType: 'int32' | 'int64';
  /**
   * CLIPTextModelWithProjection (SDXL's text_encoder_2): the pooled output through a bias-free
   * text_projection to this width, output as `text_embeds` instead of `pooler_output`.
   */
  projectionDim?: number;
  /** Also output hidden_states.0 … hidden_states.{layers}, as SDXL exports do (SDXL reads the penultimate). */
  outputHiddenStates?: boolean;
}

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  /** Per down block: CrossAttnDownBlock2D (true) or DownBlock2D (false); up blocks mirror it. */
  crossAttentionBlocks: boolean[];
  layersPerBlock: number;
  /** Attention heads per down block (diffusers' attention_head_dim, which SD uses as a head count). */
  attentionHeads: number[];
  normGroups: number;
  /** SD 2.x projects in/out of the transformers with Linear, SD 1.x with 1×1 convs. */
  linearProjection: boolean;
  /** float32 in current exports, int64 in older ones; rank 1 ([steps]) or a rank-0 scalar. */
  timestep: { dtype: 'float32' | 'int64'; rank: 0 | 1 };
  /**
   * SDXL's addition_embed_type "text_time": inputs text_embeds [B, textEncoder2.projectionDim] and
   * time_ids [B, 6], each time id sinusoidally embedded this wide, through add_embedding into the time embedding.
   */
  additionTimeEmbedDim?: number;
  /** LCM-distilled UNets: input timestep_cond [B, this] through cond_proj into the time embedding. */
  timeCondProjDim?: number;
}

export interface VaeConfig {
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normGroups: number;
  /** Latents are divided by this before the decoder (the pipeline does it, not the graph). */
  scalingFactor: number;
}

export interface PipelineConfig {
  /** Written into the component configs as _name_or_path, so a folder says what built it. */
  name: string;
  /** Default image size in pixels; the UNet's sample_size is this over the VAE's downscale factor. */
  sampleSize: number;
  predictionType: PredictionType;
  scheduler: SchedulerClass;
  tokenizer: TokenizerConfig;
  /** The UNet's cross-attention dim is the text encoder's hidden size, as in every SD release. */
  textEncoder: TextEncoderConfig;
  unet: UNetConfig;
  vae: VaeConfig;
  weights: {
    dtype: WeightDType;
    /** Write initializers to model.onnx_data beside model.onnx, as exports over 2 GB must. */
    externalData: boolean;
    /** float16 model inputs and outputs, as fp16 exports have (default float32). */
    io?: 'float32' | 'float16';
    /**
     * float16 arithmetic throughout (implies float16 weights and I/O), as `optimum-cli export onnx
     * --fp16` writes for GPUs; the default keeps compute in float32.
     */
    compute?: 'float32' | 'float16';
  };
  includeVaeEncoder: boolean;
  /** UNet and VAE attention as ORT's fused MultiHeadAttention (GPU-optimised exports); default plain ops. */
  fusedAttention?: boolean;
  /** SDXL's second encoder (text_encoder_2/, with tokenizer_2/); the UNet's context is both encoders' width. */
  textEncoder2?: TextEncoderConfig;
  tokenizer2?: TokenizerConfig;
  /** model_index.json _class_name (default OnnxStableDiffusionPipeline). */
  pipelineClass?: string;
  /** scheduler_config.json timestep_spacing (default leading, as SD 1.x/2.x ship it). */
  timestepSpacing?: 'leading' | 'trailing' | 'linspace';
  /** SDXL's model_index.json flag: an empty negative prompt is encoded as zeros. */
  forceZerosForEmptyPrompt?: boolean;
}

const SD1_BLOCKS = [true, true, true, false];

/** SD 1.x layout at toy size: a 64×64 image (8×8 latent) runs a UNet step in milliseconds. */
export const TINY_SD15: PipelineConfig = {
  name: 'tiny-sd15',
  sampleSize: 64,
  predictionType: 'epsilon',
  scheduler: 'PNDMScheduler',
  tokenizer: { padToken: '<|endoftext|>' },
  textEncoder: { hiddenSize: 32, layers: 2, heads: 2, intermediateSize: 64, activation: 'quick_gelu', maxPositions: 77, inputIdsDType: 'int32' },
  unet: {
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [32, 64, 64, 64],
    crossAttentionBlocks: SD1_BLOCKS,
    // One resnet per block (SD has two) halves the node count, and ORT's session setup time with it.
    layersPerBlock: 1,
    attentionHeads: [2, 2, 2, 2],
    normGroups: 8,
    linearProjection: false,
    timestep: { dtype: 'float32', rank: 1 },
  },
  vae: { latentChannels: 4, blockOutChannels: [16, 32, 32, 32], layersPerBlock: 1, normGroups: 8, scalingFactor: 0.18215 },
  weights: { dtype: 'float32', externalData: false },
  includeVaeEncoder: true,
};

/** SD 2.x layout at toy size: v-prediction, "!" padding, GELU text encoder, linear projections. */
export const TINY_SD2_V: PipelineConfig = {
  ...TINY_SD15,
  name: 'tiny-sd2-v',
  predictionType: 'v_prediction',
  scheduler: 'EulerDiscreteScheduler',
  tokenizer: { padToken: '!' },
  textEncoder: { hiddenSize: 48, layers: 2, heads: 3, intermediateSize: 96, activation: 'gelu', maxPositions: 77, inputIdsDType: 'int32' },
  unet: { ...TINY_SD15.unet, attentionHeads: [2, 4, 4, 4], linearProjection: true },
};

/** The real SD 1.5 sizes (UNet ≈ 860M parameters), for benchmarks; weights go to model.onnx_data. */
export const SD15: PipelineConfig = {
  name: 'sd15',
  sampleSize: 512,
  predictionType: 'epsilon',
  scheduler: 'PNDMScheduler',
  tokenizer: { padToken: '<|endoftext|>', vocabSize: 49408 },
  textEncoder: { hiddenSize: 768, layers: 12, heads: 12, intermediateSize: 3072, activation: 'quick_gelu', maxPositions: 77, inputIdsDType: 'int32' },
  unet: {
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [320, 640, 1280, 1280],
    crossAttentionBlocks: SD1_BLOCKS,
    layersPerBlock: 2,
    attentionHeads: [8, 8, 8, 8],
    normGroups: 32,
    linearProjection: false,
    timestep: { dtype: 'float32', rank: 1 },
  },
  vae: { latentChannels: 4, blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, normGroups: 32, scalingFactor: 0.18215 },
  weights: { dtype: 'float32', externalData: true },
  includeVaeEncoder: true,
};

/** SD 1.5 as GPU users run it: fp16 weights, I/O and arithmetic (the bench/gpu model). */
export const SD15_FP16: PipelineConfig = {
  ...SD15,
  name: 'sd15-fp16',
  weights: { dtype: 'float16', externalData: true, io: 'float16', compute: 'float16' },
  includeVaeEncoder: false,
};

/** SD15_FP16 as ORT's Stable Diffusion optimizer leaves it for GPUs: fused attention. */
export const SD15_FP16_FUSED: PipelineConfig = { ...SD15_FP16, name: 'sd15-fp16-fused', fusedAttention: true };

/** How many pixels one latent cell covers: 2 per VAE down/up sampling stage. */
export function vaeScaleFactor(vae: VaeConfig): number {
  return 2 ** (vae.blockOutChannels.length - 1);
}

/** The UNet's cross-attention width: the encoders' hidden sizes side by side (SDXL concatenates both). */
export function unetContextDim(config: PipelineConfig): number {
  return config.textEncoder.hiddenSize + (config.textEncoder2?.hiddenSize ?? 0);
}

/** Catches configs that would build a graph ORT rejects later with a less helpful message. */
export function validateConfig(config: PipelineConfig): void {
  const { unet, vae, textEncoder } = config;
  const problems: string[] = [];
  const blocks = unet.blockOutChannels.length;
  if (unet.crossAttentionBlocks.length !== blocks) problems.push('unet.crossAttentionBlocks needs one entry per block');
  if (unet.attentionHeads.length !== blocks) problems.push('unet.attentionHeads needs one entry per block');
  unet.blockOutChannels.forEach((c, i) => {
    if (c % unet.normGroups !== 0) problems.push(`unet block ${i}: ${c} channels not divisible by ${unet.normGroups} groups`);
    const heads = unet.attentionHeads[i] ?? 1;
    if (c % heads !== 0) problems.push(`unet block ${i}: ${c} channels not divisible by ${heads} heads`);
  });
  vae.blockOutChannels.forEach((c, i) => {
    if (c % vae.normGroups !== 0) problems.push(`vae block ${i}: ${c} channels not divisible by ${vae.normGroups} groups`);
  });
  if (textEncoder.hiddenSize % textEncoder.heads !== 0) problems.push('textEncoder.hiddenSize not divisible by heads');
  if (config.textEncoder2 && config.textEncoder2.hiddenSize % config.textEncoder2.heads !== 0) problems.push('textEncoder2.hiddenSize not divisible by heads');
  if (unet.additionTimeEmbedDim !== undefined && !config.textEncoder2?.projectionDim) problems.push('unet.additionTimeEmbedDim needs textEncoder2.projectionDim (text_embeds)');
  if (config.sampleSize % (vaeScaleFactor(vae) * 2 ** (blocks - 1)) !== 0) {
    problems.push('sampleSize must be a multiple of the VAE factor times the UNet downsampling');
  }
  if (problems.length > 0) throw new Error(`invalid pipeline config ${config.name}: ${problems.join('; ')}`);
}
