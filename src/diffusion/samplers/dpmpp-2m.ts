/**
 * DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2; k-diffusion sample_dpmpp_2m): a multistep
 * second-order solver in λ = −log σ that reuses the previous step's denoised estimate instead of
 * a second model call. The first step and the step to σ = 0 are first order.
 */
import type { Sampler } from '../types.js';
import { denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

export const sampleDpmpp2m: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  // Our own copy: a denoiser may reuse its output buffer between calls.
  const previousDenoised = new Float32Array(x.length);
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const sigmaNext = sigmaAt(sigmas, i + 1);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    if (sigmaNext === 0) {
      x.set(denoised);
    } else {
      const h = Math.log(sigma / sigmaNext);
      const decay = sigmaNext / sigma; // e^{−h}
      const gain = -Math.expm1(-h); // 1 − e^{−h}, without cancellation for small h
      if (i === 0) {
        for (let k = 0; k < x.length; k++) x[k] = decay * x[k]! + gain * denoised[k]!;
      } else {
        // Extrapolate D to the midpoint in λ from the last two estimates (r = h_last/h).
        const r = Math.log(sigmaAt(sigmas, i - 1) / sigma) / h;
        const weightNew = 1 + 1 / (2 * r);
        const weightOld = 1 / (2 * r);
        for (let k = 0; k < x.length; k++) {
          const corrected = weightNew * denoised[k]! - weightOld * previousDenoised[k]!;
          x[k] = decay * x[k]! + gain * corrected;
        }
      }
    }
    previousDenoised.set(denoised);
    await reportStep(context, i, total);
  }
  return x;
};
