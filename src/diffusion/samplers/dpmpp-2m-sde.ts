/**
 * DPM-Solver++(2M) SDE, midpoint variant with eta = 1 (Lu et al. 2022, Sec. 5 / Appendix; k-diffusion
 * sample_dpmpp_2m_sde): the exponential-integrator step of the reverse SDE in λ = −log σ, a
 * second-order correction from the previous denoised estimate, and fresh noise. The noise comes from
 * the injected NoiseSource (k-diffusion uses a Brownian tree, which only matters for step-count
 * consistency of one seed, not for the distribution sampled).
 */
import type { Sampler } from '../types.js';
import { addScaledNoise, denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

const ETA = 1;

export const sampleDpmpp2mSde: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  const previousDenoised = new Float32Array(x.length);
  let previousH = 0;
  let havePrevious = false;
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const sigmaNext = sigmaAt(sigmas, i + 1);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    if (sigmaNext === 0) {
      x.set(denoised);
    } else {
      const h = Math.log(sigma / sigmaNext);
      const etaH = ETA * h;
      const decay = (sigmaNext / sigma) * Math.exp(-etaH);
      const gain = -Math.expm1(-h - etaH); // 1 − e^{−(1+η)h}
      // Midpoint correction: ½·gain·(h/h_last)·(D − D_prev); zero on the first step.
      const correction = havePrevious ? 0.5 * gain * (h / previousH) : 0;
      for (let k = 0; k < x.length; k++) {
        const d = denoised[k]!;
        x[k] = decay * x[k]! + gain * d + correction * (d - previousDenoised[k]!);
      }
      if (ETA > 0) addScaledNoise(x, context.noise.randn(x.length), sigmaNext * Math.sqrt(-Math.expm1(-2 * etaH)));
      previousH = h;
    }
    previousDenoised.set(denoised);
    havePrevious = true;
    await reportStep(context, i, total);
  }
  return x;
};
