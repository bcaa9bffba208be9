/**
 * Reading and checking a model folder's parts for model-spec.ts: what the UNet's inputs demand,
 * and how each text encoder feeds it. Problems are collected as sentences naming the part.
 */
import fs from 'node:fs';
import path from 'node:path';

import { QUOTED_INPUT_CHARS, quoteInput } from '../util/quote-input.js';
import type { OnnxSignature } from './onnx-signature.js';
import { ClipTokenizer } from './tokenizer.js';
import { loadTokenizerFilesSync } from './tokenizer/load-files.js';

/** One text encoder of a model and how its outputs feed the UNet (read from its ONNX signature). */
export interface EncoderSpec {
  folder: 'text_encoder' | 'text_encoder_2';
  tokenizer: 'tokenizer' | 'tokenizer_2';
  /** The output the UNet's context is made of: last_hidden_state (SD 1.x/2.x) or the penultimate hidden_states.N (SDXL). */
  hiddenOutput: string;
  hiddenSize: number;
  /** SDXL's text_encoder_2: the pooled, projected output the UNet takes as text_embeds. */
  pooledOutput?: string;
}

export type Json = Record<string, unknown>;

const SD_LATENT_CHANNELS = 4;
/**
 * An inpainting UNet's sample (diffusers' StableDiffusionInpaintPipeline, SD 1.x/2.x/XL alike):
 * the 4 noisy latents, then the mask at latent resolution (1 channel, 1 = repaint), then the 4
 * latents of the masked image. It still outputs 4 channels.
 */
export const INPAINT_UNET_CHANNELS = 9;
/** The channels an inpainting UNet takes after the latents: mask (1) and masked-image latents (4). */
export const INPAINT_EXTRA_CHANNELS = INPAINT_UNET_CHANNELS - SD_LATENT_CHANNELS;
/** The UNet inputs this server knows how to feed. */
const KNOWN_UNET_INPUTS = new Set(['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids', 'timestep_cond']);

export function readJson(file: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return value && typeof value === 'object' ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A JSON file of the folder: undefined when it is absent (the reader's defaults apply), a problem
 * when it is there but not a JSON object — left to the defaults it would load as another model.
 */
export function readJsonChecked(dir: string, relative: string, problems: string[]): Json | undefined {
  const file = path.join(dir, relative);
  if (!fs.existsSync(file)) return undefined;
  const json = readJson(file);
  if (!json) problems.push(`${relative} is not valid JSON (a JSON object)`);
  return json;
}

/** Why a tokenizer folder would not load (unreadable files, a vocab without CLIP's special tokens), checked as the load does. */
export function tokenizerProblem(dir: string, folder: string): string | undefined {
  try {
    ClipTokenizer.fromFiles(loadTokenizerFilesSync(path.join(dir, folder)));
    return undefined;
  } catch (error) {
    return `${folder}: ${(error as Error).message}`;
  }
}

const PREDICTION_TYPES = ['epsilon', 'v_prediction'];

/** scheduler_config.json's prediction_type, when it is one the samplers do not handle; absent means epsilon. */
export function predictionTypeProblem(value: unknown): string | undefined {
  if (value === undefined || PREDICTION_TYPES.includes(value as string)) return undefined;
  const shown = typeof value === 'string' ? quoteInput(value) : String(JSON.stringify(value)).slice(0, QUOTED_INPUT_CHARS);
  return `unsupported prediction_type ${shown}; supported are ${PREDICTION_TYPES.join(' and ')}`;
}

export const positiveInt = (value: unknown): number | undefined => (typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined);
export const lastDim = (shape: readonly (number | string)[] | undefined): number | undefined => positiveInt(shape?.at(-1));

/** The channels of the UNet's sample input: its fixed size in the graph, else unet/config.json in_channels. */
export function unetInChannels(unet: OnnxSignature, unetConfig: Json): number | undefined {
  return positiveInt(unet.inputs.get('sample')?.shape[1]) ?? positiveInt(unetConfig['in_channels']);
}

/** What is wrong with the UNet's inputs, given whether the folder has SDXL's second encoder. */
export function unetInputProblems(unet: OnnxSignature, unetConfig: Json, hasSecondEncoder: boolean): string[] {
  const problems: string[] = [];
  for (const name of ['sample', 'timestep', 'encoder_hidden_states']) if (!unet.inputs.has(name)) problems.push(`the UNet has no ${name} input`);
  const unknown = [...unet.inputs.keys()].filter((name) => !KNOWN_UNET_INPUTS.has(name));
  if (unknown.length > 0) problems.push(`the UNet takes ${unknown.join(', ')}, which this server cannot feed (ControlNet/adapter exports are not supported)`);
  const wantsTextEmbeds = unet.inputs.has('text_embeds');
  if (wantsTextEmbeds !== unet.inputs.has('time_ids')) problems.push('the UNet takes only one of text_embeds and time_ids; an SDXL UNet takes both');
  if (wantsTextEmbeds && !hasSecondEncoder) problems.push('the UNet expects text_embeds and time_ids (SDXL) but the folder has no text_encoder_2 to make text_embeds');
  if (!wantsTextEmbeds && hasSecondEncoder) problems.push('the folder has text_encoder_2 (SDXL) but the UNet takes no text_embeds/time_ids');
  const timeIds = lastDim(unet.inputs.get('time_ids')?.shape);
  if (timeIds !== undefined && timeIds !== 6) {
    problems.push(`the UNet's time_ids have ${timeIds} values; only 6 (original size, crop, target size) are supported${timeIds === 5 ? ' — 5 is the SDXL refiner, which is img2img only' : ''}`);
  }
  const inChannels = unetInChannels(unet, unetConfig);
  if (inChannels !== undefined && inChannels !== SD_LATENT_CHANNELS && inChannels !== INPAINT_UNET_CHANNELS) {
    problems.push(`the UNet takes ${inChannels} input channels; supported are ${SD_LATENT_CHANNELS} (text-to-image) and ${INPAINT_UNET_CHANNELS} (inpainting: latents, mask, masked-image latents)`);
  }
  return problems;
}

/**
 * Each text encoder's spec: SD 1.x/2.x read the last hidden state; SDXL (two encoders) the
 * penultimate layer of both, side by side, plus text_encoder_2's pooled text_embeds.
 */
export function readEncoders(dir: string, signatures: OnnxSignature[], problems: string[]): EncoderSpec[] {
  const encoders: EncoderSpec[] = [];
  signatures.forEach((signature, i) => {
    const folder = i === 0 ? 'text_encoder' : 'text_encoder_2';
    const config = readJson(path.join(dir, folder, 'config.json')) ?? {};
    if (!signature.inputs.has('input_ids')) problems.push(`${folder} has no input_ids input`);
    const layers = positiveInt(config['num_hidden_layers']) ?? [...signature.outputs.keys()].filter((n) => n.startsWith('hidden_states.')).length - 1;
    const penultimate = layers >= 2 ? `hidden_states.${layers - 1}` : 'hidden_states.N (penultimate layer)';
    const hiddenOutput = signatures.length > 1 ? penultimate : signature.outputs.has('last_hidden_state') ? 'last_hidden_state' : ([...signature.outputs.keys()][0] ?? 'last_hidden_state');
    if (!signature.outputs.has(hiddenOutput)) {
      problems.push(`${folder} has no ${hiddenOutput} output (SDXL reads the penultimate layer's hidden states; export with hidden states)`);
    }
    const hiddenSize = positiveInt(config['hidden_size']) ?? lastDim(signature.outputs.get(hiddenOutput)?.shape) ?? lastDim(signature.outputs.get('last_hidden_state')?.shape);
    if (hiddenSize === undefined) problems.push(`${folder}'s width is unknown: no hidden_size in its config.json and no fixed width in its outputs`);
    const encoder: EncoderSpec = { folder, tokenizer: i === 0 ? 'tokenizer' : 'tokenizer_2', hiddenOutput, hiddenSize: hiddenSize ?? 0 };
    if (i === 1) {
      if (signature.outputs.has('text_embeds')) encoder.pooledOutput = 'text_embeds';
      else problems.push('text_encoder_2 has no text_embeds output (the pooled, projected embedding SDXL\'s UNet takes)');
    }
    encoders.push(encoder);
  });
  return encoders;
}
