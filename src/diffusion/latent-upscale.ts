/**
 * Bilinear ×2 upscaling of NCHW latents, the hires fix's default "Latent" upscaler (align_corners
 * false, as torch.nn.functional.interpolate computes it).
 */
export function upscaleLatents2x(latents: Float32Array, [n, c, h, w]: [number, number, number, number]): Float32Array {
  const H = h * 2;
  const W = w * 2;
  const out = new Float32Array(n * c * H * W);
  for (let plane = 0; plane < n * c; plane++) {
    const src = plane * h * w;
    const dst = plane * H * W;
    for (let y = 0; y < H; y++) {
      const sy = Math.max(0, (y + 0.5) / 2 - 0.5);
      const y0 = Math.min(Math.floor(sy), h - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const fy = sy - y0;
      for (let x = 0; x < W; x++) {
        const sx = Math.max(0, (x + 0.5) / 2 - 0.5);
        const x0 = Math.min(Math.floor(sx), w - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const fx = sx - x0;
        const top = latents[src + y0 * w + x0]! * (1 - fx) + latents[src + y0 * w + x1]! * fx;
        const bottom = latents[src + y1 * w + x0]! * (1 - fx) + latents[src + y1 * w + x1]! * fx;
        out[dst + y * W + x] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}
