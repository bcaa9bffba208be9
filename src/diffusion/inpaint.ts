import type { Denoiser } from './types.js';

/**
 * Inpainting with an ordinary UNet, as A1111 and ComfyUI do it: the mask is blurred at its edge,
 * shrunk to the latents' size, and the sampler's denoiser is wrapped so that outside the mask the
 * latents are held to the original's, re-noised to the level of each step; after decoding, the
 * original's pixels are put back wherever the blurred mask is 0, so they come back exactly.
 */

/** A Gaussian blur of standard deviation `radius` pixels (PIL's GaussianBlur, A1111's mask blur), cut at 3σ. */
export function blurMask(repaint: Float32Array, width: number, height: number, radius: number): Float32Array {
  if (radius <= 0) return repaint.slice();
  const reach = Math.ceil(3 * radius);
  const kernel = Float32Array.from({ length: 2 * reach + 1 }, (_, i) => Math.exp(-((i - reach) ** 2) / (2 * radius * radius)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i] = kernel[i]! / sum;
  const pass = (input: Float32Array, horizontal: boolean) => {
    const out = new Float32Array(input.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let v = 0;
        for (let k = -reach; k <= reach; k++) {
          // Edges repeat the border pixel, so a mask touching the border stays whole there.
          const sx = horizontal ? Math.min(width - 1, Math.max(0, x + k)) : x;
          const sy = horizontal ? y : Math.min(height - 1, Math.max(0, y + k));
          v += input[sy * width + sx]! * kernel[k + reach]!;
        }
        out[y * width + x] = v;
      }
    }
    return out;
  };
  return pass(pass(repaint, true), false);
}

/** A pixel mask → the latents' (one value per 8×8 block: its mean). */
export function latentMask(mask: Float32Array, width: number, height: number): Float32Array {
  const lw = width / 8;
  const lh = height / 8;
  const out = new Float32Array(lw * lh);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out[Math.floor(y / 8) * lw + Math.floor(x / 8)]! += mask[y * width + x]! / 64;
  }
  return out;
}

export interface MaskedDenoiserOptions {
  /** The original's latents for the whole batch [batch, channels, h, w]. */
  original: Float32Array;
  /** Repaint weight per latent position [h, w], the same for every channel and batch item. */
  repaint: Float32Array;
  /** The noise the original was re-noised with at the start (the same shape as `original`). */
  noise: Float32Array;
}

/**
 * The denoiser, held to the original outside the mask: the model sees x blended with the original
 * re-noised to σ (original + noise·σ), and what it predicts is blended with the original, with the
 * repaint weight m: x·m + (original + noise·σ)·(1 − m) in, D·m + original·(1 − m) out.
 */
export function maskedDenoiser(denoise: Denoiser, { original, repaint, noise }: MaskedDenoiserOptions): Denoiser {
  const plane = repaint.length;
  return async (x, sigma) => {
    const blended = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const m = repaint[i % plane]!;
      blended[i] = x[i]! * m + (original[i]! + noise[i]! * sigma) * (1 - m);
    }
    const denoised = await denoise(blended, sigma);
    const out = new Float32Array(denoised.length);
    for (let i = 0; i < denoised.length; i++) {
      const m = repaint[i % plane]!;
      out[i] = denoised[i]! * m + original[i]! * (1 - m);
    }
    return out;
  };
}

/** The decoded picture with the original's pixels where the blurred mask keeps them: exactly the original's where it is 0. */
export function overlayOriginal(generated: Uint8Array, original: Uint8Array, blurred: Float32Array): Uint8Array {
  const out = new Uint8Array(generated.length);
  for (let i = 0; i < generated.length; i++) {
    const m = blurred[Math.floor(i / 3)]!;
    out[i] = m <= 0 ? original[i]! : m >= 1 ? generated[i]! : Math.round(original[i]! * (1 - m) + generated[i]! * m);
  }
  return out;
}
