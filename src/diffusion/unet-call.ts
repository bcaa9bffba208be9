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
 *
 * `extraChannels` [n, e, h, w] go after the sample's c channels on the channel axis, unscaled, as
 * diffusers' StableDiffusionInpaintPipeline concatenates them after scale_model_input: an
 * inpainting UNet (spec.inpainting) takes e = 5, the mask (1 = repaint) then the masked image's
 * latents, and needs them on every call; any other UNet takes none.
 */
export type UNetCall = (
  sample: Float32Array,
  sampleShape: [number, number, number, number],
  timestep: number,
  context: Float32Array,
  contextShape: [number, number, number],
  extras?: UNetExtras,
  extraChannels?: Float32Array,
) => Promise<Float32Array>;

/**
 * `first` [n, c1, h, w] and `second` [n, c2, h, w] → [n, c1 + c2, h, w], each item's channels of
 * `first` before those of `second` (torch.cat(dim=1)).
 */
export function concatChannels(first: Float32Array, second: Float32Array, shape: readonly [number, number, number, number]): { data: Float32Array; shape: [number, number, number, number] } {
  const [n, c1, h, w] = shape;
  const firstPer = c1 * h * w;
  const secondPer = second.length / n;
  if (first.length !== n * firstPer) throw new RangeError(`the sample has ${first.length} values, [${shape.join(', ')}] needs ${n * firstPer}`);
  if (!Number.isInteger(secondPer) || secondPer % (h * w) !== 0 || secondPer === 0) {
    throw new RangeError(`${second.length} extra channel values are not [${n}, c, ${h}, ${w}]`);
  }
  const out = new Float32Array(first.length + second.length);
  for (let i = 0; i < n; i++) {
    out.set(first.subarray(i * firstPer, (i + 1) * firstPer), i * (firstPer + secondPer));
    out.set(second.subarray(i * secondPer, (i + 1) * secondPer), i * (firstPer + secondPer) + firstPer);
  }
  return { data: out, shape: [n, c1 + secondPer / (h * w), h, w] };
}
