/** The pipeline-level JSON files: model_index.json and scheduler/scheduler_config.json. */
import type { PipelineConfig } from './config.js';

/** diffusers version the files claim to come from; loaders only read it for warnings. */
const DIFFUSERS_VERSION = '0.30.0';

/** model_index.json: which class loads each component folder, as an ONNX export lists them. */
export function modelIndexJson(config: PipelineConfig): Record<string, unknown> {
  const onnxModel = ['diffusers', 'OnnxRuntimeModel'];
  return {
    _class_name: config.pipelineClass ?? 'OnnxStableDiffusionPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    _name_or_path: config.name,
    feature_extractor: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', config.scheduler],
    text_encoder: onnxModel,
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: onnxModel,
    vae_decoder: onnxModel,
    ...(config.includeVaeEncoder ? { vae_encoder: onnxModel } : {}),
    ...(config.textEncoder2 ? { text_encoder_2: onnxModel, tokenizer_2: ['transformers', 'CLIPTokenizer'] } : {}),
    ...(config.forceZerosForEmptyPrompt === undefined ? {} : { force_zeros_for_empty_prompt: config.forceZerosForEmptyPrompt }),
  };
}

/** The SD training schedule every SD 1.x/2.x release ships, with the config's prediction type. */
export function schedulerConfigJson(config: PipelineConfig): Record<string, unknown> {
  return {
    _class_name: config.scheduler,
    _diffusers_version: DIFFUSERS_VERSION,
    num_train_timesteps: 1000,
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    trained_betas: null,
    prediction_type: config.predictionType,
    steps_offset: 1,
    timestep_spacing: config.timestepSpacing ?? 'leading',
    set_alpha_to_one: false,
    skip_prk_steps: true,
    clip_sample: false,
    // LCMScheduler's own keys: the 50-step distillation grid and the boundary-condition scaling.
    ...(config.scheduler === 'LCMScheduler' ? { original_inference_steps: 50, timestep_scaling: 10 } : {}),
  };
}
