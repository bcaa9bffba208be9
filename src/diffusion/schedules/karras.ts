import { assertStepCount } from './step-count.js';

/** Noise levels of Karras et al. 2022, eq. 5 (ρ = 7), as k-diffusion's get_sigmas_karras: descending, then 0. */
export function karrasSigmas(steps: number, sigmaMin: number, sigmaMax: number, rho = 7): number[] {
  assertStepCount(steps);
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  const sigmas: number[] = [];
  for (let i = 0; i < steps; i++) {
    const ramp = steps > 1 ? i / (steps - 1) : 0;
    sigmas.push((maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho);
  }
  sigmas.push(0);
  return sigmas;
}
