/**
 * Wraps a UNet (ε- or v-prediction, trained on the discrete VP schedule) as a k-diffusion Denoiser
 * x, σ → D(x, σ), with classifier-free guidance. The scalings are those of k-diffusion's
 * CompVisDenoiser / CompVisVDenoiser with σ_data = 1 (Karras et al. 2022, Table 1, VP column).
 */
import type { DiscreteSchedule } from './schedules/discrete-schedule.js';
import type { Denoiser } from './types.js';
import type { UNetCall, UNetExtras } from './unet-call.js';

export type PredictionType = 'epsilon' | 'v_prediction';

export interface ModelDenoiserOptions {
  unet: UNetCall;
  schedule: DiscreteSchedule;
  predictionType: PredictionType;
  latentShape: [number, number, number, number];
  /** Text embeddings for the prompt, n × tokens × dim. */
  cond: Float32Array;
  /** Embeddings for the negative/empty prompt, same shape; without it there is no guidance. */
  uncond?: Float32Array;
  contextShape: [number, number, number];
  guidanceScale: number;
  /** The family's extra UNet inputs for the prompt (SDXL text_embeds/time_ids, LCM timestep_cond), each [n, width]. */
  condExtras?: UNetExtras;
  /** The same for the negative prompt; needed for every cond extra when guidance runs. */
  uncondExtras?: UNetExtras;
  /**
   * Channels the UNet takes after the latents, [n, e, h, w] for the latents' n, h, w; the same for
   * the prompt and the negative prompt. An inpainting UNet (spec.inpainting) needs e = 5: the mask
   * at latent resolution (1 = repaint), then the masked image's VAE latents (already scaled by
   * the VAE's scaling factor). They are fed as given, not scaled by c_in as the latents are.
   */
  unetExtraChannels?: Float32Array;
}

export function createModelDenoiser(options: ModelDenoiserOptions): Denoiser {
  const { unet, schedule, predictionType, latentShape, cond, uncond, contextShape, guidanceScale, condExtras = {}, uncondExtras = {}, unetExtraChannels } = options;
  const [batch, channels, height, width] = latentShape;
  const latentSize = batch * channels * height * width;
  const contextSize = contextShape[0] * contextShape[1] * contextShape[2];
  if (contextShape[0] !== batch) throw new RangeError(`context batch ${contextShape[0]} does not match latent batch ${batch}`);
  if (cond.length !== contextSize) throw new RangeError(`cond has ${cond.length} values, contextShape needs ${contextSize}`);
  if (uncond && uncond.length !== contextSize) throw new RangeError(`uncond has ${uncond.length} values, contextShape needs ${contextSize}`);
  if (unetExtraChannels && (unetExtraChannels.length === 0 || unetExtraChannels.length % (batch * height * width) !== 0)) {
    throw new RangeError(`unetExtraChannels has ${unetExtraChannels.length} values, not [${batch}, e, ${height}, ${width}]`);
  }
  if (predictionType !== 'epsilon' && predictionType !== 'v_prediction') {
    throw new RangeError(`unsupported prediction type "${String(predictionType)}"; supported: epsilon, v_prediction`);
  }

  // Guidance at scale ≤ 1 (or with nothing to contrast) is at most an interpolation towards uncond;
  // like A1111 and diffusers we then skip the unconditional half and halve the work.
  const guided = uncond !== undefined && guidanceScale > 1;
  const modelBatch = guided ? 2 * batch : batch;
  const sampleShape: [number, number, number, number] = [modelBatch, channels, height, width];
  const modelContextShape: [number, number, number] = [modelBatch, contextShape[1], contextShape[2]];
  // Built once: [uncond; cond] along the batch axis, so both halves run in one UNet call.
  const modelContext = guided ? concat(uncond, cond) : cond;
  const modelExtras: Record<string, Float32Array> = {};
  for (const [name, value] of Object.entries(condExtras)) {
    const negative = uncondExtras[name];
    if (guided && !negative) throw new RangeError(`guidance needs the negative prompt's ${name} too`);
    modelExtras[name] = guided ? concat(negative!, value) : value;
  }
  // Both halves of a guided call see the same mask and masked image.
  const modelExtraChannels = unetExtraChannels && guided ? concat(unetExtraChannels, unetExtraChannels) : unetExtraChannels;

  return async (x, sigma) => {
    if (x.length !== latentSize) throw new RangeError(`latents have ${x.length} values, latentShape needs ${latentSize}`);
    const cIn = 1 / Math.sqrt(sigma * sigma + 1);
    // latentSize already covers the batch: the guided call holds two copies of it.
    const halves = guided ? 2 : 1;
    const sample = new Float32Array(halves * latentSize);
    for (let k = 0; k < latentSize; k++) sample[k] = x[k]! * cIn;
    if (guided) sample.copyWithin(latentSize, 0, latentSize);

    const timestep = schedule.sigmaToTimestep(sigma);
    const output = await (modelExtraChannels
      ? unet(sample, sampleShape, timestep, modelContext, modelContextShape, modelExtras, modelExtraChannels)
      : unet(sample, sampleShape, timestep, modelContext, modelContextShape, modelExtras));
    if (output.length !== halves * latentSize) {
      throw new RangeError(`UNet returned ${output.length} values, expected ${halves * latentSize}`);
    }

    const denoised = new Float32Array(latentSize);
    // Model output after guidance (Ho & Salimans 2022, eq. 6), applied to ε or v alike as diffusers does.
    const unconditionalOffset = 0;
    const conditionalOffset = guided ? latentSize : 0;
    if (predictionType === 'epsilon') {
      // x = x0 + σ·ε  ⇒  D = x − σ·ε.
      for (let k = 0; k < latentSize; k++) {
        const eps = guided ? guide(output, unconditionalOffset + k, conditionalOffset + k, guidanceScale) : output[k]!;
        denoised[k] = x[k]! - sigma * eps;
      }
    } else {
      // v = α·ε − σ_vp·x0 (Salimans & Ho 2022) in sigma space: D = c_skip·x + c_out·v with
      // c_skip = 1/(σ² + 1) and c_out = −σ/sqrt(σ² + 1).
      const cSkip = 1 / (sigma * sigma + 1);
      const cOut = -sigma * cIn;
      for (let k = 0; k < latentSize; k++) {
        const v = guided ? guide(output, unconditionalOffset + k, conditionalOffset + k, guidanceScale) : output[k]!;
        denoised[k] = cSkip * x[k]! + cOut * v;
      }
    }
    return denoised;
  };
}

function guide(output: Float32Array, unconditionalIndex: number, conditionalIndex: number, scale: number): number {
  const unconditional = output[unconditionalIndex]!;
  return unconditional + scale * (output[conditionalIndex]! - unconditional);
}

function concat(first: Float32Array, second: Float32Array): Float32Array {
  const out = new Float32Array(first.length + second.length);
  out.set(first);
  out.set(second, first.length);
  return out;
}
