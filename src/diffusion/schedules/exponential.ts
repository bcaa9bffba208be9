import { assertStepCount } from './step-count.js';

/** Noise levels evenly spaced in log σ (k-diffusion get_sigmas_exponential): descending, then 0. */
export function exponentialSigmas(steps: number, sigmaMin: number, sigmaMax: number): number[] {
  assertStepCount(steps);
  const logMax = Math.log(sigmaMax);
  const logMin = Math.log(sigmaMin);
  const sigmas: number[] = [];
  for (let i = 0; i < steps; i++) {
    const ramp = steps > 1 ? i / (steps - 1) : 0;
    sigmas.push(Math.exp(logMax + ramp * (logMin - logMax)));
  }
  sigmas.push(0);
  return sigmas;
}
