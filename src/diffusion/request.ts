import crypto from 'node:crypto';

import type { ImageGenerationRequest } from '../generated/image_generation.js';
import { quoteInput } from '../util/quote-input.js';
import { SEED_MODES, type SeedMode } from './batch-noise.js';
import { GENERIC_DEFAULTS, type FamilyDefaults } from './model-family.js';
import { pictureSize, readStartPictures, startPicture, StartPictureError, type StartPicture } from './start-picture.js';

/** A request with every field checked and every default filled in. */
export interface GenerationParams {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  /** The seed of the first image; image i of the request uses seed + i. */
  seed: number;
  seedWasRandom: boolean;
  /** Which generator turns each image's seed into noise ('' in the request is 'default'). */
  seedMode: SeedMode;
  sampler: string;
  batchSize: number;
  batchCount: number;
  enableHr: boolean;
  /** Strength of the hires-fix second pass (only used with enableHr). */
  denoisingStrength: number;
  /** Folder name in the models directory; '' = the server's default. */
  model: string;
  /** img2img: the picture to start from (at width × height) and, for inpainting, what to repaint. */
  start?: StartPicture;
}

/** A request field out of range: the message names the field and what is allowed. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A request this server cannot honour as asked (e.g. restore_faces without a face model). */
export class UnsupportedRequestError extends Error {
  override readonly name = 'UnsupportedRequestError';
}

export const LIMITS = {
  size: { min: 64, max: 2048 },
  steps: { min: 1, max: 150 },
  cfgScale: { min: 0, max: 30 },
  batchSize: { min: 1, max: 8 },
  batchCount: { min: 1, max: 100 },
  promptChars: 10_000,
  /** A model is named by its folder, and a folder name is at most 255 bytes on every common filesystem. */
  modelNameChars: 255,
  /** The longest sampler name, "DPM++ 2M SDE Karras", is 19 characters; room for other spellings. */
  samplerChars: 64,
  /** Pixels; A1111's slider goes to 64. */
  maskBlur: 64,
} as const;

export const DEFAULTS = { size: GENERIC_DEFAULTS.size, steps: GENERIC_DEFAULTS.steps, cfgScale: GENERIC_DEFAULTS.cfgScale, hiresDenoisingStrength: 0.7, img2imgDenoisingStrength: 0.75, maskBlur: 4 } as const;

/**
 * Checks a request and fills defaults. proto3 cannot tell "unset" from 0, so 0 means "the default"
 * for width, height, steps, cfg_scale, batch_size and batch_count (a real value of 0 is never
 * valid for those, and cfg_scale ≤ 1 — no guidance — is asked for with 1); an empty sampler means
 * the default sampler. Width, height, steps, cfg_scale and sampler default to the model family's
 * values (SDXL 1024², Turbo 1 step without guidance, LCM 4 steps of the LCM sampler), so the model
 * is resolved first. seed -1 means random; 0 is a seed like any other.
 */
export function validateRequest(request: ImageGenerationRequest, defaults: FamilyDefaults = GENERIC_DEFAULTS): GenerationParams {
  if (request.restoreFaces) {
    throw new UnsupportedRequestError('restore_faces needs a face-restoration model, and this server has none; send the request without restore_faces');
  }
  checkRequestText(request);
  // Decoded (bounded first) before the size is checked: a request without one takes the picture's.
  const pictures = request.initImage.length > 0 || request.mask.length > 0 ? readPictures(request) : undefined;
  const own = pictures ? pictureSize(pictures.image) : undefined;
  const width = dimension('width', request.width || own?.width || defaults.size);
  const height = dimension('height', request.height || own?.height || defaults.size);
  const steps = intInRange('steps', request.steps || defaults.steps, LIMITS.steps);
  const cfgScale = request.cfgScale === 0 ? defaults.cfgScale : request.cfgScale;
  if (!Number.isFinite(cfgScale) || cfgScale < LIMITS.cfgScale.min || cfgScale > LIMITS.cfgScale.max) {
    throw new InvalidRequestError('cfg_scale', `must be from ${LIMITS.cfgScale.min} to ${LIMITS.cfgScale.max} (got ${request.cfgScale})`);
  }
  const batchSize = intInRange('batch_size', request.batchSize || 1, LIMITS.batchSize);
  const batchCount = intInRange('batch_count', request.batchCount || 1, LIMITS.batchCount);
  const strength = request.denoisingStrength;
  if (!Number.isFinite(strength) || strength < 0 || strength > 1) throw new InvalidRequestError('denoising_strength', `must be from 0 to 1 (got ${strength})`);
  if (pictures && request.enableHr) {
    throw new InvalidRequestError('enable_hr', 'the hires fix makes a first picture to refine, and init_image is one already: ask for the final size with init_image and no enable_hr');
  }
  const maskBlur = request.maskBlur ?? DEFAULTS.maskBlur;
  if (!Number.isInteger(maskBlur) || maskBlur < 0 || maskBlur > LIMITS.maskBlur) throw new InvalidRequestError('mask_blur', `must be a whole number of pixels from 0 to ${LIMITS.maskBlur} (got ${maskBlur})`);
  if (request.enableHr && Math.max(width, height) * 2 > LIMITS.size.max) {
    throw new InvalidRequestError('enable_hr', `the hires fix doubles the size, and ${width * 2}×${height * 2} is over ${LIMITS.size.max}; ask for at most ${LIMITS.size.max / 2} per side`);
  }
  const seedWasRandom = request.seed === -1;
  if (!seedWasRandom) checkSeed(request.seed, batchSize * batchCount);
  const seedMode = checkSeedMode(request.seedMode);
  return {
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    width,
    height,
    steps,
    cfgScale: Math.fround(cfgScale),
    seed: seedWasRandom ? crypto.randomInt(0, 2 ** 32) : request.seed,
    seedWasRandom,
    seedMode,
    sampler: request.sampler || defaults.sampler,
    batchSize,
    batchCount,
    enableHr: request.enableHr,
    denoisingStrength: strength === 0 && request.enableHr ? DEFAULTS.hiresDenoisingStrength : strength === 0 && pictures ? DEFAULTS.img2imgDenoisingStrength : strength,
    model: request.model,
    ...(pictures ? { start: { ...startPicture(pictures, width, height), maskBlur } } : {}),
  };
}

/** init_image and mask decoded, or the INVALID_ARGUMENT a wrong one deserves. */
function readPictures(request: ImageGenerationRequest): ReturnType<typeof readStartPictures> {
  try {
    return readStartPictures(request.initImage, request.mask);
  } catch (error) {
    if (error instanceof StartPictureError) throw new InvalidRequestError(error.field, error.message.slice(error.field.length + 2));
    throw error;
  }
}

/**
 * The request's strings within their limits, checked before anything uses them: the model name
 * is looked up and quoted in errors, and a 20 MB name must be refused, not searched for and echoed.
 */
export function checkRequestText(request: Pick<ImageGenerationRequest, 'prompt' | 'negativePrompt' | 'model' | 'sampler'>): void {
  checkLength('prompt', request.prompt, LIMITS.promptChars, 'only 75 tokens are used anyway');
  checkLength('negative_prompt', request.negativePrompt, LIMITS.promptChars, 'only 75 tokens are used anyway');
  checkLength('model', request.model, LIMITS.modelNameChars, 'a model is named by its folder');
  checkLength('sampler', request.sampler, LIMITS.samplerChars, 'see the README for the sampler names');
}

function checkLength(field: string, text: string, limit: number, why: string): void {
  if (text.length > limit) throw new InvalidRequestError(field, `is ${text.length} characters; the limit is ${limit} (${why})`);
}

/** Image i of a request uses seed + i, so the first seed leaves room for the request's last image. */
function checkSeed(seed: number, images: number): void {
  const largest = Number.MAX_SAFE_INTEGER - (images - 1);
  if (Number.isSafeInteger(seed) && seed >= 0 && seed <= largest) return;
  const room = images > 1 ? `; image i uses seed + i, and this request makes ${images} images` : '';
  throw new InvalidRequestError('seed', `must be -1 (random) or a whole number from 0 to ${largest} (got ${seed})${room}`);
}

function checkSeedMode(value: string): SeedMode {
  if (value === '') return 'default';
  if ((SEED_MODES as string[]).includes(value)) return value as SeedMode;
  throw new InvalidRequestError('seed_mode', `must be "" or one of ${SEED_MODES.map((mode) => JSON.stringify(mode)).join(', ')} (got ${quoteInput(value)})`);
}

function dimension(field: string, value: number): number {
  intInRange(field, value, LIMITS.size);
  if (value % 8 !== 0) throw new InvalidRequestError(field, `must be a multiple of 8 (got ${value}); try ${Math.round(value / 8) * 8}`);
  return value;
}

function intInRange(field: string, value: number, { min, max }: { min: number; max: number }): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidRequestError(field, `must be a whole number from ${min} to ${max} (got ${value})`);
  return value;
}
