import { ImageGenerationRequest as SeedRequest } from '../../generated/image_generation.js';
import { SeedMode } from '../../generated/draw_things_config_generated.js';
import type { ImageGenerationRequest } from '../../generated/draw_things_image_service.js';
import { InvalidRequestError, UnsupportedRequestError } from '../../diffusion/request.js';
import type { DrawThingsConfiguration } from './configuration.js';
import { canvasPng, contentsByHash, maskPng } from './input-pictures.js';
import { samplerFor } from './samplers.js';

/**
 * A Draw Things request (with its configuration read) → the seed contract's request, which then
 * goes through the seed's own checks and defaults: one pipeline, one set of limits for both
 * contracts. `model` is the local model the app's file name resolved to (an alias, or itself).
 * What the app can ask for and this server cannot do is refused, naming the setting to change,
 * rather than quietly ignored: a picture without the LoRA the user chose is a wrong picture.
 */
export function toSeedRequest(request: ImageGenerationRequest, config: DrawThingsConfiguration, model: string): SeedRequest {
  if (request.mask !== undefined && request.image === undefined) throw new InvalidRequestError('mask', 'a mask needs the canvas it masks: send image too');
  if (request.hints.some((h) => h.tensors.length > 0)) {
    throw new UnsupportedRequestError(`control hints (${request.hints.map((h) => h.hintType).join(', ')}) need ControlNet models, which this server does not run; remove the controls`);
  }
  if (config.asksFor.length > 0) {
    throw new UnsupportedRequestError(`this server cannot apply ${config.asksFor.join(', ')}; turn ${config.asksFor.length > 1 ? 'them' : 'it'} off for this server`);
  }
  if (config.clipSkip > 1) {
    throw new UnsupportedRequestError(`CLIP skip ${config.clipSkip} is not supported by this server (its text encoders give their last layer only); set CLIP skip to 1`);
  }
  return SeedRequest.fromPartial({
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    steps: config.steps,
    cfgScale: config.guidanceScale,
    seed: config.seed,
    seedMode: seedModeFor(config.seedMode),
    sampler: samplerFor(config.sampler),
    batchSize: config.batchSize,
    batchCount: config.batchCount,
    model,
    ...firstPass(config),
    ...(request.image !== undefined ? startingCanvas(request, config) : {}),
  });
}

/**
 * img2img and inpainting from the app's canvas: the seed request's picture fields, with the
 * configuration's strength and mask blur. The app sends the canvas at the generation's size.
 */
function startingCanvas(request: ImageGenerationRequest, config: DrawThingsConfiguration): Pick<SeedRequest, 'initImage' | 'mask' | 'denoisingStrength' | 'maskBlur'> {
  const contents = contentsByHash(request.contents);
  const mask = request.mask === undefined ? undefined : maskPng(request.mask, contents);
  return { initImage: canvasPng(request.image!, contents), mask: mask ?? Buffer.alloc(0), denoisingStrength: config.strength, maskBlur: Math.round(config.maskBlur) };
}

/**
 * The app's seed modes → the seed contract's. Torch CPU compatible is torch's CPU generator, which
 * this server reproduces bit for bit. Legacy, Scale alike and NVIDIA GPU compatible are the app's
 * own or CUDA's generators, which this server does not have: they run on its default generator, so
 * a seed gives a good picture, but not the app's (the picture is not refused, as the noise is
 * a property of the seed, not a setting the picture is made with).
 */
function seedModeFor(mode: SeedMode): string {
  return mode === SeedMode.TorchCpuCompatible ? 'torch-cpu' : 'default';
}

/**
 * The app's hires fix renders at hires_fix_start_width × _height, then refines at the final size;
 * dts-util's (A1111's) refines at exactly twice the first pass. A first pass at least as large as
 * the final size is no hires fix, as in the app.
 */
function firstPass(config: DrawThingsConfiguration): Pick<SeedRequest, 'width' | 'height' | 'enableHr' | 'denoisingStrength'> {
  const { width, height, hiresFixWidth, hiresFixHeight } = config;
  const hires = config.hiresFix && hiresFixWidth > 0 && hiresFixHeight > 0 && (hiresFixWidth < width || hiresFixHeight < height);
  if (!hires) return { width, height, enableHr: false, denoisingStrength: 0 };
  if (hiresFixWidth * 2 !== width || hiresFixHeight * 2 !== height) {
    throw new InvalidRequestError(
      'hires_fix_start_width',
      `this server's hires fix doubles the first pass, so a ${width}×${height} picture needs a first pass of ${width / 2}×${height / 2} (got ${hiresFixWidth}×${hiresFixHeight})`,
    );
  }
  return { width: hiresFixWidth, height: hiresFixHeight, enableHr: true, denoisingStrength: config.hiresFixStrength };
}
