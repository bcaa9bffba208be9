import type { GenerationResult, Progress } from '../engine/messages.js';
import { batchNoise } from './batch-noise.js';
import { upscaleLatents2x } from './latent-upscale.js';
import type { LoadedModel } from './loaded-model.js';
import { createModelDenoiser } from './model-denoiser.js';
import { RunClock } from './onnx-session.js';
import { parametersText } from './parameters-text.js';
import { encodeConditioning } from './prompt-conditioning.js';
import { encodePng, fromRgb8, toRgb8 } from './png.js';
import type { GenerationParams } from './request.js';
import { resolveSampler } from './samplers/registry.js';
import { discreteSchedule } from './schedules.js';
import { strengthSteps } from './schedules/step-count.js';
import { blurMask, latentMask, maskedDenoiser, overlayOriginal } from './inpaint.js';
import type { StartPicture } from './start-picture.js';
import { LATENT_CHANNELS, type Denoiser } from './types.js';
import type { UNetCall } from './unet-call.js';

export interface PipelineHooks {
  progress(progress: Omit<Progress, 'queuePosition'>): void;
  /**
   * Throws (or rejects) when the job must stop (client gone, deadline, shutdown); awaited before
   * every UNet call and before decoding, so a job stops between steps.
   */
  checkCancelled(): void | Promise<void>;
  version: string;
  /** Which of its server's workers runs the job (info says it). */
  worker?: number;
}

/**
 * txt2img, as one loop a reader can follow: tokenize → encode text → for each batch: seeded noise
 * → sampler over the UNet (classifier-free guidance inside the denoiser) → [hires fix: upscale
 * latents ×2, noise to the strength's level, sample again] → VAE decode → PNG.
 */
export async function runPipeline(model: LoadedModel, params: GenerationParams, hooks: PipelineHooks): Promise<GenerationResult> {
  const started = performance.now();
  const clock = new RunClock();
  const events: string[] = [];
  const report = (stage: Progress['stage'], event: string, extra: Partial<Progress> = {}) => {
    const line = `${(performance.now() - started).toFixed(1)} ms ${stage}: ${event}`;
    events.push(line);
    hooks.progress({ stage, event: line, step: 0, steps: 0, batch: 0, batches: params.batchCount, ...extra });
  };
  const timings: Record<string, number> = {};
  const time = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      timings[name] = (timings[name] ?? 0) + performance.now() - t0;
    }
  };

  const sampler = resolveSampler(params.sampler);
  const schedule = discreteSchedule(model.scheduler);

  // Text: the negative prompt is encoded only when guidance uses it; both in one run.
  for (const [label, text] of [['prompt', params.prompt], ['negative prompt', params.negativePrompt]] as const) {
    const result = model.tokenizer.encode(text);
    if (result.truncated) report('text_encoded', `${label} truncated to ${model.tokenizer.maxLength - 2} tokens (it had ${result.tokenCount})`);
  }
  const conditioning = await time('text_encode_ms', () => encodeConditioning(model, params, clock));
  const { cond, uncond, contextShape } = conditioning;
  const [, tokens, dim] = contextShape;
  report('text_encoded', `${uncond ? 2 : 1} prompt(s) encoded, ${tokens} tokens × ${dim}`);

  const callUnet = model.unetCall(clock);
  const unet: UNetCall = async (...args) => {
    await hooks.checkCancelled();
    return callUnet(...args);
  };
  const picture = params.start ? await encodeStartPicture(model, params.start, clock, time, report) : undefined;
  // An inpainting UNet takes the mask and the masked picture's latents beside its latents.
  const inpaintChannels = model.spec.inpainting ? await time('image_encode_ms', () => inpaintingChannels(model, params, clock)) : undefined;
  const images: Uint8Array[] = [];
  const allSeeds: number[] = [];
  for (let batch = 0; batch < params.batchCount; batch++) {
    const seeds = Array.from({ length: params.batchSize }, (_, i) => params.seed + batch * params.batchSize + i);
    allSeeds.push(...seeds);
    const noise = batchNoise(seeds, params.seedMode);
    const sample = async (x: Float32Array, shape: [number, number, number, number], sigmas: number[], pass: string, wrap = (d: Denoiser) => d) => {
      const unetExtraChannels = inpaintChannels ? repeatBatch(inpaintChannels, shape[0]) : undefined;
      const denoise = wrap(createModelDenoiser({ unet, schedule, predictionType: model.predictionType, latentShape: shape, cond, uncond, contextShape, guidanceScale: params.cfgScale, ...conditioning.extrasFor(shape), unetExtraChannels }));
      const steps = sigmas.length - 1;
      return time('sampling_ms', () =>
        sampler.sample(x, {
          denoise,
          sigmas,
          noise,
          onStep: (step) => {
            report('sampling', `${pass} step ${step + 1}/${steps}, batch ${batch + 1}/${params.batchCount}`, { step: step + 1, steps, batch: batch + 1 });
          },
        }),
      );
    };

    let shape: [number, number, number, number] = [params.batchSize, LATENT_CHANNELS, params.height / 8, params.width / 8];
    const sigmas = sampler.sigmas(params.steps, schedule, model.scheduler);
    let latents: Float32Array;
    if (picture) {
      // img2img (A1111's rule): the picture's latents, noised to the level `denoising_strength`
      // reaches into the schedule, then sampled from there; inpainting holds what is kept.
      const stepsToRun = strengthSteps(params.denoisingStrength, params.steps);
      const tail = sigmas.slice(params.steps - stepsToRun);
      const original = repeatBatch(picture.latents, params.batchSize);
      const fresh = noise.randn(original.length);
      const start = Float32Array.from(original, (v, i) => v + fresh[i]! * tail[0]!);
      // An inpainting UNet is told what to keep; an ordinary one is held to it.
      const hold = picture.repaint && !model.spec.inpainting ? (d: Denoiser) => maskedDenoiser(d, { original, repaint: picture.repaint!, noise: fresh }) : undefined;
      latents = stepsToRun > 0 ? await sample(start, shape, tail, 'img2img', hold) : original;
    } else {
      const start = noise.randn(shape[0] * shape[1] * shape[2] * shape[3]);
      for (let i = 0; i < start.length; i++) start[i] = start[i]! * sigmas[0]!;
      latents = await sample(start, shape, sigmas, 'first pass');
    }

    if (params.enableHr) {
      // A1111's hires fix: the first pass's latents ×2, noised to the level `denoising_strength`
      // reaches into the schedule, then sampled from there (int(strength·steps) steps).
      const stepsToRun = strengthSteps(params.denoisingStrength, params.steps);
      latents = upscaleLatents2x(latents, shape);
      shape = [shape[0], shape[1], shape[2] * 2, shape[3] * 2];
      report('hires_fix', `latents upscaled to ${shape[3] * 8}×${shape[2] * 8}; second pass of ${stepsToRun} steps (strength ${params.denoisingStrength})`, { batch: batch + 1 });
      if (stepsToRun > 0) {
        const tail = sigmas.slice(params.steps - stepsToRun);
        const fresh = noise.randn(latents.length);
        for (let i = 0; i < latents.length; i++) latents[i] = latents[i]! + fresh[i]! * tail[0]!;
        latents = await sample(latents, shape, tail, 'second pass');
      }
    }

    await hooks.checkCancelled();
    const decoded = await time('decode_ms', () => model.decode(latents, shape, clock));
    report('decoded', `batch ${batch + 1}/${params.batchCount}: ${decoded.length} image(s) decoded`, { batch: batch + 1 });
    await time('png_ms', async () => {
      decoded.forEach((pixels, i) => {
        const text = parametersText(params, { seed: seeds[i]!, sampler: sampler.name, model: model.name, version: hooks.version });
        const rgb = toRgb8(pixels, 0, shape[3] * 8, shape[2] * 8);
        // Inpainting: the original's own pixels wherever the blurred mask keeps them.
        const kept = picture?.blurred && params.start ? overlayOriginal(rgb, params.start.image.rgb, picture.blurred) : rgb;
        images.push(encodePng(kept, shape[3] * 8, shape[2] * 8, { parameters: text }));
      });
    });
  }

  const totalMs = performance.now() - started;
  report('done', `${images.length} image(s) in ${totalMs.toFixed(0)} ms`);
  const info = {
    prompt: params.prompt,
    all_prompts: allSeeds.map(() => params.prompt),
    negative_prompt: params.negativePrompt,
    all_negative_prompts: allSeeds.map(() => params.negativePrompt),
    seed: params.seed,
    all_seeds: allSeeds,
    seed_was_random: params.seedWasRandom,
    ...(params.seedMode === 'default' ? {} : { seed_mode: params.seedMode }),
    width: params.width,
    height: params.height,
    sampler_name: sampler.name,
    cfg_scale: params.cfgScale,
    steps: params.steps,
    batch_size: params.batchSize,
    n_iter: params.batchCount,
    restore_faces: false,
    enable_hr: params.enableHr,
    hr_scale: params.enableHr ? 2 : 1,
    hr_upscaler: params.enableHr ? 'Latent' : null,
    denoising_strength: params.enableHr || params.start ? params.denoisingStrength : null,
    // A1111's img2img keys: what the picture started from.
    ...(params.start ? { init_image: `${params.start.image.width}x${params.start.image.height}`, inpainting: params.start.repaint !== undefined, mask_blur: params.start.repaint ? params.start.maskBlur : null, img2img_steps: strengthSteps(params.denoisingStrength, params.steps) } : {}),
    sd_model_name: model.name,
    family: model.spec.family,
    guidance: conditioning.guidance,
    prediction_type: model.predictionType,
    infotexts: allSeeds.map((seed) => parametersText(params, { seed, sampler: sampler.name, model: model.name, version: hooks.version })),
    version: hooks.version,
    device: model.device,
    ...(hooks.worker === undefined ? {} : { worker: hooks.worker }),
    device_fallbacks: model.fallbacks,
    timings_ms: { ...roundAll(timings), onnx_run_ms: round(clock.totalMs), total_ms: round(totalMs) },
  };
  return { images, info: JSON.stringify(info), events, onnxRunMs: clock.totalMs };
}

const round = (ms: number) => Math.round(ms * 10) / 10;
const roundAll = (record: Record<string, number>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, round(v)]));

/** The start picture's latents, and for inpainting its blurred pixel mask and the latents' repaint weights. */
interface EncodedPicture {
  latents: Float32Array;
  blurred?: Float32Array;
  repaint?: Float32Array;
}

async function encodeStartPicture(
  model: LoadedModel,
  start: StartPicture,
  clock: RunClock,
  time: <T>(name: string, run: () => Promise<T>) => Promise<T>,
  report: (stage: Progress['stage'], event: string) => void,
): Promise<EncodedPicture> {
  const { width, height, rgb } = start.image;
  const latents = await time('image_encode_ms', () => model.encodeImage(fromRgb8(rgb, width, height), height, width, clock));
  report('image_encoded', `init image encoded: ${width}×${height} → latents ${width / 8}×${height / 8}${start.repaint ? `, mask blurred by ${start.maskBlur} px` : ''}`);
  if (!start.repaint) return { latents };
  const blurred = blurMask(start.repaint, width, height, start.maskBlur);
  return { latents, blurred, repaint: latentMask(blurred, width, height) };
}

/** One picture's latents, repeated for each image of a batch. */
function repeatBatch(latents: Float32Array, batch: number): Float32Array {
  const out = new Float32Array(latents.length * batch);
  for (let i = 0; i < batch; i++) out.set(latents, i * latents.length);
  return out;
}

/**
 * What an inpainting UNet takes after its latents, per image [5, h, w] (diffusers'
 * StableDiffusionInpaintPipeline): the mask at the latents' size (1 = repaint; nearest, as its
 * interpolate does), then the latents of the picture with the masked area set to 0 (mid-grey in
 * [-1, 1]). Without a mask everything is repainted; without a picture the masked picture is all 0.
 */
async function inpaintingChannels(model: LoadedModel, params: GenerationParams, clock: RunClock): Promise<Float32Array> {
  const { width, height } = params;
  const repaint = params.start?.repaint;
  const pixels = params.start ? fromRgb8(params.start.image.rgb, width, height) : new Float32Array(3 * width * height);
  const plane = width * height;
  if (repaint) for (let i = 0; i < plane; i++) if (repaint[i]! >= 0.5) for (let c = 0; c < 3; c++) pixels[c * plane + i] = 0;
  const masked = await model.encodeImage(pixels, height, width, clock);
  const lw = width / 8;
  const lh = height / 8;
  const out = new Float32Array(5 * lw * lh);
  for (let y = 0; y < lh; y++) for (let x = 0; x < lw; x++) out[y * lw + x] = repaint ? (repaint[y * 8 * width + x * 8]! >= 0.5 ? 1 : 0) : 1;
  out.set(masked, lw * lh);
  return out;
}
