/**
 * Euler ancestral (A1111 "Euler a", k-diffusion sample_euler_ancestral with eta = 1): an Euler step
 * down to σ_down, then fresh noise of size σ_up so the marginal noise level is σ' again.
 */
import type { Sampler } from '../types.js';
import { addScaledNoise, ancestralStep, denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleEulerAncestral: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const sigmaNext = sigmaAt(sigmas, i + 1);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    const { sigmaDown, sigmaUp } = ancestralStep(sigma, sigmaNext, 1);
    const ratio = (sigmaDown - sigma) / sigma;
    for (let k = 0; k < x.length; k++) x[k] = x[k]! + (x[k]! - denoised[k]!) * ratio;
    if (sigmaNext > 0) addScaledNoise(x, context.noise.randn(x.length), sigmaUp);
    await reportStep(context, i, total);
  }
  return x;
};
