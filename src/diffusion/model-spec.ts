/**
 * What a model folder is, read before any request runs: its family, what each ONNX model takes
 * and gives (from the files' graph signatures, without loading them), and everything that makes it
 * unusable — a missing part, widths that disagree, a UNet input the folder cannot produce. The
 * answer is cached per folder until one of its files changes (model-fingerprint.ts).
 */
import fs from 'node:fs';
import path from 'node:path';

import { modelFingerprint } from './model-fingerprint.js';
import { familyDefaults, familyName, type BaseFamily, type Distillation, type FamilyDefaults, type ModelFamily } from './model-family.js';
import { INPAINT_UNET_CHANNELS, lastDim, positiveInt, predictionTypeProblem, readEncoders, readJson, readJsonChecked, tokenizerProblem, unetInChannels, unetInputProblems, type EncoderSpec, type Json } from './model-parts.js';
import { readOnnxSignature, type OnnxSignature } from './onnx-signature.js';
import { createDiscreteSchedule } from './schedules/discrete-schedule.js';
import { isTimestepSpacing } from './schedules/timesteps.js';
import type { SchedulerConfig } from './types.js';

/** How one text encoder feeds the UNet. */
export interface ModelSpec {
  family: ModelFamily;
  base: BaseFamily;
  distillation: Distillation;
  defaults: FamilyDefaults;
  /** Latents are divided by this before the VAE decoder (vae_decoder/config.json scaling_factor). */
  vaeScaling: number;
  /** model_index.json force_zeros_for_empty_prompt (SDXL): an empty negative prompt is zeros, not encoded. */
  forceZerosForEmptyPrompt: boolean;
  encoders: EncoderSpec[];
  /** encoder_hidden_states width: the encoders' hidden sizes summed. */
  contextDim: number;
  /** SDXL: the UNet takes text_embeds [B, textEmbedsDim] and time_ids [B, 6]. */
  textEmbedsDim?: number;
  /** LCM: the UNet takes timestep_cond [B, timestepCondDim], the guidance-scale embedding. */
  timestepCondDim?: number;
  /**
   * An inpainting UNet of its base family (diffusers' StableDiffusion(XL)InpaintPipeline): its sample
   * has 9 channels, the 4 latents then INPAINT_EXTRA_CHANNELS (5) more, the mask at latent
   * resolution (1 = repaint) and the VAE-encoded masked image (4). Every call must give those
   * (UNetCall's extraChannels, the denoiser's unetExtraChannels). The folder has a vae_encoder.
   */
  inpainting: boolean;
}

/**
 * A spec, or the problems: `unsupported` when the folder is another kind of model altogether (then
 * missing files do not matter), `incomplete` when parts are missing, and the base family when the
 * folder says it (an SDXL folder missing its second encoder is still SDXL).
 */
export type Inspection =
  | { spec: ModelSpec; problems?: undefined; unsupported?: undefined; incomplete?: undefined; base?: undefined }
  | { spec?: undefined; problems: string[]; unsupported?: boolean; incomplete?: boolean; base?: BaseFamily };

const DEFAULT_VAE_SCALING: Record<BaseFamily, number> = { sd1: 0.18215, sd2: 0.18215, sdxl: 0.13025 };
/** Text-to-image and inpainting pipelines of the SD 1.x/2.x/XL and LCM kind, as diffusers, its ONNX classes and optimum name them. */
const PIPELINE_CLASS = /^(ORT|Onnx)?(StableDiffusion(XL)?|LatentConsistencyModel)(Img2Img|Inpaint)?Pipeline$/;

const cache = new Map<string, { key: string; inspection: Inspection }>();

/** The VAE encoder's model, relative to a model folder: optional, since text-to-image never runs it. */
export const VAE_ENCODER_FILE = 'vae_encoder/model.onnx';

/**
 * Whether a model folder can encode a picture into latents (vae_encoder/model.onnx is there), as
 * img2img and inpainting need; a folder without one still generates from text.
 */
export function hasVaeEncoder(modelDir: string): boolean {
  return fs.existsSync(path.join(modelDir, VAE_ENCODER_FILE));
}

/** The spec of a model folder, or everything wrong with it. Cheap to call again: cached by file times. */
export function inspectModelFolder(dir: string): Inspection {
  const key = modelFingerprint(dir);
  const hit = cache.get(dir);
  if (hit && hit.key === key) return hit.inspection;
  const inspection = inspect(dir);
  cache.set(dir, { key, inspection });
  return inspection;
}

function inspect(dir: string): Inspection {
  const problems: string[] = [];
  const index = readJsonChecked(dir, 'model_index.json', problems) ?? {};
  const className = index['_class_name'];
  if (typeof className === 'string' && !PIPELINE_CLASS.test(className)) {
    return { unsupported: true, problems: [`unknown model family: model_index.json names ${className}; supported are Stable Diffusion 1.x/2.x/XL, their Turbo versions and LCM (text-to-image and inpainting)`] };
  }

  const hasSecondEncoder = fs.existsSync(path.join(dir, 'text_encoder_2')) || Array.isArray(index['text_encoder_2']);
  const firstEncoder = index['text_encoder'];
  if (hasSecondEncoder && Array.isArray(firstEncoder) && firstEncoder[0] === null) {
    return { unsupported: true, problems: ['this is an SDXL refiner (text_encoder_2 only, aesthetic-score time_ids): it refines images (img2img), which this server does not run'] };
  }
  const required = ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'tokenizer', 'scheduler/scheduler_config.json'];
  if (hasSecondEncoder) required.push('text_encoder_2/model.onnx', 'tokenizer_2');
  const missing = required.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    return { incomplete: true, base: hasSecondEncoder ? 'sdxl' : undefined, problems: [`missing ${missing.join(', ')}${hasSecondEncoder ? ' (an SDXL folder has text_encoder_2 and tokenizer_2 too)' : ''}`] };
  }

  let unet: OnnxSignature;
  let vae: OnnxSignature;
  const encoderSignatures: OnnxSignature[] = [];
  try {
    unet = readOnnxSignature(path.join(dir, 'unet', 'model.onnx'));
    vae = readOnnxSignature(path.join(dir, 'vae_decoder', 'model.onnx'));
    encoderSignatures.push(readOnnxSignature(path.join(dir, 'text_encoder', 'model.onnx')));
    if (hasSecondEncoder) encoderSignatures.push(readOnnxSignature(path.join(dir, 'text_encoder_2', 'model.onnx')));
  } catch (error) {
    return { problems: [(error as Error).message.replace(`${dir}${path.sep}`, '')] };
  }
  const unetConfig = readJsonChecked(dir, 'unet/config.json', problems) ?? {};
  const vaeConfig = readJsonChecked(dir, 'vae_decoder/config.json', problems) ?? {};

  // The UNet's inputs decide what the rest of the folder has to produce.
  problems.push(...unetInputProblems(unet, unetConfig, hasSecondEncoder));
  const inpainting = unetInChannels(unet, unetConfig) === INPAINT_UNET_CHANNELS;
  if (inpainting && !fs.existsSync(path.join(dir, 'vae_encoder', 'model.onnx'))) {
    problems.push('the UNet is an inpainting UNet (9 input channels) but the folder has no vae_encoder/model.onnx to encode the masked image');
  }
  const wantsTextEmbeds = unet.inputs.has('text_embeds');
  if (!vae.inputs.has('latent_sample')) problems.push('the VAE decoder has no latent_sample input');
  const encoders = readEncoders(dir, encoderSignatures, problems);
  for (const encoder of encoders) {
    const problem = tokenizerProblem(dir, encoder.tokenizer);
    if (problem) problems.push(problem);
  }

  const contextDim = encoders.reduce((sum, e) => sum + e.hiddenSize, 0);
  const unetContext = lastDim(unet.inputs.get('encoder_hidden_states')?.shape) ?? positiveInt(unetConfig['cross_attention_dim']);
  if (unetContext !== undefined && encoders.every((e) => e.hiddenSize > 0) && unetContext !== contextDim) {
    const widths = encoders.map((e) => `${e.folder} ${e.hiddenSize}`).join(' + ');
    problems.push(`the UNet's cross-attention width is ${unetContext} but the text encoders give ${contextDim} (${widths})`);
  }

  let textEmbedsDim: number | undefined;
  if (wantsTextEmbeds && hasSecondEncoder) {
    const unetWidth = lastDim(unet.inputs.get('text_embeds')?.shape);
    const pooledWidth = lastDim(encoderSignatures[1]!.outputs.get('text_embeds')?.shape) ?? positiveInt(readJson(path.join(dir, 'text_encoder_2', 'config.json'))?.['projection_dim']);
    if (unetWidth !== undefined && pooledWidth !== undefined && unetWidth !== pooledWidth) {
      problems.push(`the UNet's text_embeds are ${unetWidth} wide but text_encoder_2 gives ${pooledWidth}`);
    }
    textEmbedsDim = unetWidth ?? pooledWidth;
  }

  let timestepCondDim: number | undefined;
  if (unet.inputs.has('timestep_cond')) {
    timestepCondDim = lastDim(unet.inputs.get('timestep_cond')?.shape) ?? positiveInt(unetConfig['time_cond_proj_dim']);
    if (timestepCondDim === undefined) problems.push('the UNet takes timestep_cond (LCM) but neither it nor unet/config.json time_cond_proj_dim says how wide');
  }

  const scheduler = (readJsonChecked(dir, 'scheduler/scheduler_config.json', problems) ?? {}) as SchedulerConfig;
  try {
    const prediction = predictionTypeProblem(scheduler.prediction_type);
    if (prediction) throw new Error(prediction);
    createDiscreteSchedule(scheduler);
    if (scheduler.timestep_spacing !== undefined && !isTimestepSpacing(scheduler.timestep_spacing)) throw new Error(`unsupported timestep_spacing "${scheduler.timestep_spacing}"`);
  } catch (error) {
    problems.push(`scheduler: ${(error as Error).message}`);
  }

  const textEncoderConfig = readJsonChecked(dir, 'text_encoder/config.json', problems) ?? {};
  const base = hasSecondEncoder ? 'sdxl' : baseOfSingleEncoder(textEncoderConfig, encoders[0]?.hiddenSize);
  if (!base) {
    problems.push(`unknown model family: text_encoder/config.json (hidden_act ${String(textEncoderConfig['hidden_act'])}, hidden_size ${String(textEncoderConfig['hidden_size'])}) is neither CLIP ViT-L (SD 1.x) nor OpenCLIP (SD 2.x)`);
  }
  if (problems.length > 0 || !base) return { problems, base };

  const lcm = timestepCondDim !== undefined || (scheduler as Json)['_class_name'] === 'LCMScheduler';
  const turbo = [index['_name_or_path'], unetConfig['_name_or_path'], path.basename(dir)].some((name) => typeof name === 'string' && /turbo/i.test(name));
  const distillation: Distillation = lcm ? 'lcm' : turbo ? 'turbo' : 'none';
  const sampleSize = positiveInt(unetConfig['sample_size']);
  const vaeStages = Array.isArray(vaeConfig['block_out_channels']) ? vaeConfig['block_out_channels'].length : 4;
  const scaling = vaeConfig['scaling_factor'];
  return {
    spec: {
      family: familyName(base, distillation),
      base,
      distillation,
      defaults: familyDefaults(base, distillation, { nativeSize: sampleSize && sampleSize * 2 ** (vaeStages - 1), guidanceEmbedded: timestepCondDim !== undefined }),
      vaeScaling: typeof scaling === 'number' && scaling > 0 ? scaling : DEFAULT_VAE_SCALING[base],
      forceZerosForEmptyPrompt: index['force_zeros_for_empty_prompt'] === true,
      encoders,
      contextDim,
      textEmbedsDim,
      timestepCondDim,
      inpainting,
    },
  };
}

/**
 * SD 1.x uses OpenAI's CLIP ViT-L (quick_gelu, 768 wide), SD 2.x OpenCLIP ViT-H (gelu, 1024): the
 * activation tells them apart at any width, the width when a config leaves the activation out.
 */
function baseOfSingleEncoder(config: Json, width: number | undefined): BaseFamily | undefined {
  const activation = config['hidden_act'];
  if (activation === 'quick_gelu') return 'sd1';
  if (activation === 'gelu') return 'sd2';
  if (width === 768) return 'sd1';
  if (width === 1024) return 'sd2';
  return undefined;
}
