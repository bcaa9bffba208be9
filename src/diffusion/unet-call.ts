/**
 * Per-item UNet inputs beyond the latents and the text context, by ONNX input name, each
 * [n, width] flattened: SDXL's text_embeds (pooled text) and time_ids (original size, crop,
 * target size), LCM's timestep_cond (the guidance-scale embedding).
 */
export type UNetExtras = Readonly<Record<string, Float32Array>>;

/**
 * One UNet evaluation: `sample` [n, c, h, w] (already scaled by c_in = 1/sqrt(σ² + 1)), the continuous
 * timestep, the text context [n, tokens, dim] and the family's extra inputs. Resolves to the model
 * output (ε or v) [n, c, h, w].
 */
export type UNetCall = (
  sample: Float32Array,
  sampleShape: [number, number, number, number],
  timestep: number,
  context: Float32Array,
  contextShape: [number, number, number],
  extras?: UNetExtras,
) => Promise<Float32Array>;
