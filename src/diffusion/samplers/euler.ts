/**
 * Euler's method on the probability-flow ODE dx/dσ = (x − D(x, σ))/σ (Karras et al. 2022, eq. 3 and
 * Algorithm 1 without the Heun correction; k-diffusion sample_euler with s_churn = 0).
 */
import type { Sampler } from '../types.js';
import { denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleEuler: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    // x + d·(σ' − σ) with d = (x − D)/σ; at σ' = 0 this lands exactly on D.
    const ratio = (sigmaAt(sigmas, i + 1) - sigma) / sigma;
    for (let k = 0; k < x.length; k++) x[k] = x[k]! + (x[k]! - denoised[k]!) * ratio;
    await reportStep(context, i, total);
  }
  return x;
};
