/**
 * Latent Consistency Model sampling (Luo et al. 2023, Algorithm 1 "multistep consistency sampling";
 * k-diffusion/A1111 sample_lcm): jump straight to the model's x0 estimate, then re-noise it to the
 * next noise level with fresh noise.
 */
import type { Sampler } from '../types.js';
import { addScaledNoise, denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleLcm: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  for (let i = 0; i < total; i++) {
    const sigmaNext = sigmaAt(sigmas, i + 1);
    x.set(await denoiseAt(context.denoise, x, sigmaAt(sigmas, i)));
    if (sigmaNext > 0) addScaledNoise(x, context.noise.randn(x.length), sigmaNext);
    await reportStep(context, i, total);
  }
  return x;
};
