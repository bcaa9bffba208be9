/** Pieces every k-diffusion-style sampler loop shares. */
import type { Denoiser, NoiseSource, SamplerContext } from '../types.js';

/** Number of steps a sigma list describes (it ends with 0, so one fewer than its length). */
export function stepCount(sigmas: readonly number[]): number {
  if (sigmas.length < 2) throw new RangeError(`a sampler needs at least two sigmas (start and 0), got ${sigmas.length}`);
  return sigmas.length - 1;
}

/** The noise level at index i; the sigma lists are checked for length by stepCount first. */
export function sigmaAt(sigmas: readonly number[], index: number): number {
  return sigmas[index]!;
}

/** Calls the denoiser and checks it kept the latent size (a wrong shape would otherwise fail silently). */
export async function denoiseAt(denoise: Denoiser, x: Float32Array, sigma: number): Promise<Float32Array> {
  const denoised = await denoise(x, sigma);
  if (denoised.length !== x.length) {
    throw new RangeError(`denoiser returned ${denoised.length} values for ${x.length} latent values`);
  }
  return denoised;
}

/** Progress and cancellation: awaited, so a rejection from onStep stops the sampler. */
export async function reportStep(context: SamplerContext, step: number, total: number): Promise<void> {
  if (context.onStep) await context.onStep(step, total);
}

/**
 * Splits a step from σ to σ' into a deterministic part down to σ_down and fresh noise of size σ_up,
 * with σ_down² + σ_up² = σ'² (k-diffusion get_ancestral_step; eta = 1 is DDPM's ancestral sampling,
 * Ho et al. 2020, in sigma space).
 */
export function ancestralStep(sigmaFrom: number, sigmaTo: number, eta = 1): { sigmaDown: number; sigmaUp: number } {
  if (eta === 0) return { sigmaDown: sigmaTo, sigmaUp: 0 };
  const sigmaUp = Math.min(sigmaTo, eta * Math.sqrt((sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo)) / (sigmaFrom * sigmaFrom)));
  const sigmaDown = Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
  return { sigmaDown, sigmaUp };
}

/** x += scale · noise, element-wise. */
export function addScaledNoise(x: Float32Array, noise: Float32Array, scale: number): void {
  for (let k = 0; k < x.length; k++) x[k] = x[k]! + scale * noise[k]!;
}

/**
 * An Euler ancestral step (eta = 1) from (x, σ) with the estimate `denoised`, written into `out`
 * (which may be x): the deterministic step x + (x − D)·(σ_down − σ)/σ = (σ_down/σ)·x + (1 − σ_down/σ)·D,
 * then σ_up times standard normal noise: drawn from a NoiseSource, or given. Onto σ' = 0 it lands on D
 * and draws no noise.
 */
export function ancestralEulerStep(
  out: Float32Array,
  x: Float32Array,
  denoised: Float32Array,
  sigma: number,
  sigmaNext: number,
  noise: NoiseSource | Float32Array,
): void {
  const { sigmaDown, sigmaUp } = ancestralStep(sigma, sigmaNext, 1);
  const ratio = (sigmaDown - sigma) / sigma;
  for (let k = 0; k < x.length; k++) out[k] = x[k]! + (x[k]! - denoised[k]!) * ratio;
  if (sigmaNext > 0) addScaledNoise(out, noise instanceof Float32Array ? noise : noise.randn(out.length), sigmaUp);
}
