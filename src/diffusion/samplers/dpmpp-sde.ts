/**
 * DPM-Solver++ SDE (A1111 "DPM++ SDE", k-diffusion sample_dpmpp_sde with eta = 1, s_noise = 1,
 * r = 1/2): a second-order singlestep solver of the reverse SDE in λ = −log σ (Lu et al. 2022,
 * DPM-Solver++(2S) with noise). Each step from σ to σ' > 0 takes two model evaluations:
 *   1. an ancestral first-order step to the midpoint σ_s = sqrt(σ·σ') (λ halfway), x₂, and D₂ = D(x₂, σ_s);
 *   2. an ancestral first-order step from x at σ to σ' that uses D₂ in place of D
 *      (k-diffusion's (1 − 1/2r)·D + (1/2r)·D₂, which is D₂ for r = 1/2).
 * The step onto σ' = 0 is one Euler step (one evaluation), so a run of N steps makes 2N − 1 UNet calls
 * (each batching cond and uncond under guidance) while counting, and reporting progress for, N steps
 * as A1111 does.
 *
 * Noise: k-diffusion (and so A1111) asks a BrownianTreeNoiseSampler for W(σ_s) − W(σ) in the first
 * sub-step and W(σ') − W(σ) in the second (each over the square root of its length), so the second
 * contains the first. There is no Brownian tree here: both come from the injected NoiseSource as plain
 * Gaussian draws, one per sub-step, the second combined with the first into the increment over
 * σ → σ' (brownianIncrement). That is the same joint law as the tree's, so the same distribution is
 * sampled (drawn independently, the sub-steps' noise would lose variance: see the unit tests), but
 * not the same random numbers: a seed does not give A1111's picture.
 */
import type { Sampler } from '../types.js';
import { ancestralEulerStep, denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleDpmppSde: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  const midpoint = new Float32Array(x.length);
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const sigmaNext = sigmaAt(sigmas, i + 1);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    if (sigmaNext === 0) {
      x.set(denoised);
    } else {
      const sigmaMid = Math.sqrt(sigma * sigmaNext); // e^{−(λ + h/2)}
      const firstNoise = context.noise.randn(x.length);
      ancestralEulerStep(midpoint, x, denoised, sigma, sigmaMid, firstNoise);
      const denoisedMid = await denoiseAt(context.denoise, midpoint, sigmaMid);
      ancestralEulerStep(x, x, denoisedMid, sigma, sigmaNext, brownianIncrement(firstNoise, context.noise.randn(x.length), sigma, sigmaMid, sigmaNext));
    }
    await reportStep(context, i, total);
  }
  return x;
};

/**
 * The standardized Brownian increment over σ → σ' given the one over σ → σ_s (`first`) and a fresh
 * draw for σ_s → σ': (sqrt(σ − σ_s)·first + sqrt(σ_s − σ')·fresh)/sqrt(σ − σ'), written into `fresh`.
 */
function brownianIncrement(first: Float32Array, fresh: Float32Array, sigma: number, sigmaMid: number, sigmaNext: number): Float32Array {
  const shared = Math.sqrt((sigma - sigmaMid) / (sigma - sigmaNext));
  const own = Math.sqrt((sigmaMid - sigmaNext) / (sigma - sigmaNext));
  for (let k = 0; k < fresh.length; k++) fresh[k] = shared * first[k]! + own * fresh[k]!;
  return fresh;
}
