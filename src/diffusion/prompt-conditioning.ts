/**
 * Everything the UNet is conditioned on, for one request: the text context of the prompt (and of
 * the negative prompt when classifier-free guidance runs), and the family's extra inputs — SDXL's
 * pooled text_embeds and time_ids, LCM's guidance embedding.
 */
import { guidanceScaleEmbedding, repeatRows, sdxlTimeIds } from './conditioning.js';
import type { LoadedModel } from './loaded-model.js';
import type { RunClock } from './onnx-session.js';
import type { UNetExtras } from './unet-call.js';

/** How guidance is applied: CFG's double batch, LCM's embedding, or not at all. */
export type GuidanceMode = 'cfg' | 'embedded' | 'off';

export interface PromptConditioning {
  guidance: GuidanceMode;
  cond: Float32Array;
  uncond?: Float32Array;
  contextShape: [number, number, number];
  /** Per pass, since SDXL's time_ids name the size being generated (the hires pass doubles it). */
  extrasFor(latentShape: readonly [number, number, number, number]): { condExtras: UNetExtras; uncondExtras?: UNetExtras };
}

export interface ConditioningRequest {
  prompt: string;
  negativePrompt: string;
  cfgScale: number;
  batchSize: number;
}

/** Latent cells → pixels: the VAE's 8× of every SD family. */
const VAE_FACTOR = 8;

export async function encodeConditioning(model: LoadedModel, request: ConditioningRequest, clock: RunClock): Promise<PromptConditioning> {
  const { spec } = model;
  const n = request.batchSize;
  const guidance: GuidanceMode = spec.timestepCondDim !== undefined ? 'embedded' : request.cfgScale > 1 ? 'cfg' : 'off';
  // diffusers' SDXL: with force_zeros_for_empty_prompt, an empty negative prompt is zeros, not encoded text.
  const zeroNegative = guidance === 'cfg' && spec.forceZerosForEmptyPrompt && request.negativePrompt === '';
  const encodeNegative = guidance === 'cfg' && !zeroNegative;

  const encoded = await model.encodeText(encodeNegative ? [request.negativePrompt, request.prompt] : [request.prompt], clock);
  const [, tokens, dim] = encoded.shape;
  const one = tokens * dim;
  const positiveIndex = encodeNegative ? 1 : 0;
  /**
   * One encoder output (rows of `width` values, one per encoded prompt) split into the batch's
   * conditional and unconditional halves; the same rule for the context and the pooled embeds.
   */
  const split = (data: Float32Array, width: number): { cond: Float32Array; uncond?: Float32Array } => ({
    cond: repeatRows(data.subarray(positiveIndex * width, (positiveIndex + 1) * width), n),
    uncond: guidance !== 'cfg' ? undefined : zeroNegative ? new Float32Array(n * width) : repeatRows(data.subarray(0, width), n),
  });

  const { cond, uncond } = split(encoded.context, one);
  const pooled = spec.textEmbedsDim === undefined ? undefined : split(encoded.pooled!, encoded.pooled!.length / encoded.shape[0]);
  const timestepCond = spec.timestepCondDim === undefined ? undefined : repeatRows(guidanceScaleEmbedding(request.cfgScale, spec.timestepCondDim), n);

  return {
    guidance,
    cond,
    uncond,
    contextShape: [n, tokens, dim],
    extrasFor(latentShape) {
      const condExtras: Record<string, Float32Array> = {};
      const uncondExtras: Record<string, Float32Array> = {};
      if (pooled) {
        const timeIds = repeatRows(sdxlTimeIds(latentShape[2] * VAE_FACTOR, latentShape[3] * VAE_FACTOR), n);
        Object.assign(condExtras, { text_embeds: pooled.cond, time_ids: timeIds });
        if (pooled.uncond) Object.assign(uncondExtras, { text_embeds: pooled.uncond, time_ids: timeIds });
      }
      if (timestepCond) condExtras['timestep_cond'] = timestepCond;
      return { condExtras, uncondExtras: guidance === 'cfg' ? uncondExtras : undefined };
    },
  };
}
