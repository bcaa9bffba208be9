/**
 * DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2; k-diffusion sample_dpmpp_2m): a multistep
 * second-order solver in λ = −log σ that reuses the previous step's denoised estimate instead of
 * a second model call. The first step and the step to σ = 0 are first order.
 */
import type { Sampler } from '../types.js';
import { denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

/** The estimate a multistep solver kept from its previous step, and the noise level it was made at. */
export interface PreviousEstimate {
  denoised: Float32Array;
  sigma: number;
}

/**
 * One DPM-Solver++(2M) step from σ to σ' > 0, in place on x: x' = (σ'/σ)·x + (1 − σ'/σ)·D̂, where D̂ is
 * D itself without a previous estimate (first order, DPM-Solver++(1) = DDIM) and otherwise D
 * extrapolated to the midpoint in λ: (1 + 1/2r)·D − (1/2r)·D_prev with r = h_prev/h. UniPC's bh2
 * predictor of order 2 is this same step.
 */
export function dpmpp2mStep(x: Float32Array, denoised: Float32Array, previous: PreviousEstimate | undefined, sigma: number, sigmaNext: number): void {
  const h = Math.log(sigma / sigmaNext);
  const decay = sigmaNext / sigma; // e^{−h}
  const gain = -Math.expm1(-h); // 1 − e^{−h}, without cancellation for small h
  if (!previous) {
    for (let k = 0; k < x.length; k++) x[k] = decay * x[k]! + gain * denoised[k]!;
    return;
  }
  const r = Math.log(previous.sigma / sigma) / h;
  const weightNew = 1 + 1 / (2 * r);
  const weightOld = 1 / (2 * r);
  const older = previous.denoised;
  for (let k = 0; k < x.length; k++) x[k] = decay * x[k]! + gain * (weightNew * denoised[k]! - weightOld * older[k]!);
}

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
      dpmpp2mStep(x, denoised, i === 0 ? undefined : { denoised: previousDenoised, sigma: sigmaAt(sigmas, i - 1) }, sigma, sigmaNext);
    }
    previousDenoised.set(denoised);
    await reportStep(context, i, total);
  }
  return x;
};
