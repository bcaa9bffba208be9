/**
 * Euler ancestral (A1111 "Euler a", k-diffusion sample_euler_ancestral with eta = 1): an Euler step
 * down to σ_down, then fresh noise of size σ_up so the marginal noise level is σ' again.
 */
import type { Sampler } from '../types.js';
import { ancestralEulerStep, denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleEulerAncestral: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    ancestralEulerStep(x, x, denoised, sigma, sigmaAt(sigmas, i + 1), context.noise);
    await reportStep(context, i, total);
  }
  return x;
};
