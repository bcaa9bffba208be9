/**
 * The family-specific UNet inputs, computed as diffusers computes them, so a distilled or SDXL
 * model sees exactly what it was trained with.
 */

/**
 * SDXL's micro-conditioning (Podell et al. 2023, §2.2): original size, crop top-left, target size,
 * in pixels, height before width. Text-to-image asks for an uncropped image at the size generated
 * (diffusers' _get_add_time_ids with its defaults).
 */
export function sdxlTimeIds(height: number, width: number): Float32Array {
  return Float32Array.of(height, width, 0, 0, height, width);
}

/**
 * LCM's guidance input: diffusers' get_guidance_scale_embedding(w, embedding_dim) with
 * w = guidance_scale − 1, as LatentConsistencyModelPipeline calls it: w·1000 times
 * exp(−ln(10000)·i/(half − 1)), sin then cos (an odd width gets a zero last).
 */
export function guidanceScaleEmbedding(guidanceScale: number, dim: number): Float32Array {
  // Each step rounded to float32 as torch computes it: angles reach thousands of radians, where
  // float64 arithmetic would give visibly different sines.
  const f = Math.fround;
  const w = f(f(guidanceScale - 1) * 1000);
  const half = Math.floor(dim / 2);
  const out = new Float32Array(dim);
  const step = f(f(Math.log(10000)) / (half - 1));
  for (let i = 0; i < half; i++) {
    const angle = f(w * f(Math.exp(f(i * -step))));
    out[i] = Math.sin(angle);
    out[half + i] = Math.cos(angle);
  }
  return out;
}

/** `row` (one item's values) repeated for n items. */
export function repeatRows(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(row.length * n);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}
