/**
 * Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 with
 * s_churn = 0; k-diffusion sample_heun): an Euler predictor, then the average of the slopes at both
 * ends. The step to σ = 0 stays a plain Euler step, since the slope there is undefined (division by σ).
 */
import type { Sampler } from '../types.js';
import { denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleHeun: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  const slope = new Float32Array(x.length);
  const predicted = new Float32Array(x.length);
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const sigmaNext = sigmaAt(sigmas, i + 1);
    const dt = sigmaNext - sigma;
    const denoised = await denoiseAt(context.denoise, x, sigma);
    if (sigmaNext === 0) {
      for (let k = 0; k < x.length; k++) x[k] = x[k]! + ((x[k]! - denoised[k]!) / sigma) * dt;
    } else {
      for (let k = 0; k < x.length; k++) {
        slope[k] = (x[k]! - denoised[k]!) / sigma;
        predicted[k] = x[k]! + slope[k]! * dt;
      }
      const denoisedNext = await denoiseAt(context.denoise, predicted, sigmaNext);
      for (let k = 0; k < x.length; k++) {
        const slopeNext = (predicted[k]! - denoisedNext[k]!) / sigmaNext;
        x[k] = x[k]! + 0.5 * (slope[k]! + slopeNext) * dt;
      }
    }
    await reportStep(context, i, total);
  }
  return x;
};
