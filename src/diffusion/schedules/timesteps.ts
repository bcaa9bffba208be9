/**
 * Which training timesteps an N-step run visits, as diffusers' schedulers choose them
 * (the `timestep_spacing` table of Lin et al. 2023, "Common Diffusion Noise Schedules and Sample
 * Steps are Flawed", Table 2). Descending; fractional only for `linspace`.
 */
import { assertStepCount } from './step-count.js';

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];

export class UnsupportedTimestepSpacingError extends Error {
  constructor(readonly spacing: string) {
    super(`unsupported timestep_spacing "${spacing}"; supported: ${TIMESTEP_SPACINGS.join(', ')}`);
    this.name = 'UnsupportedTimestepSpacingError';
  }
}

export function isTimestepSpacing(value: string): value is TimestepSpacing {
  return (TIMESTEP_SPACINGS as readonly string[]).includes(value);
}

/** numpy.round: halves go to the even neighbour (diffusers rounds trailing timesteps with it). */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function spacedTimesteps(steps: number, numTrainTimesteps: number, spacing: TimestepSpacing, stepsOffset = 0): number[] {
  assertStepCount(steps);
  const out: number[] = [];
  switch (spacing) {
    case 'linspace': {
      // linspace(N−1, 0, steps). diffusers writes linspace(0, N−1, steps)[::-1]; the two agree for
      // steps ≥ 2, and for one step this (k-diffusion's get_sigmas) starts from pure noise, not t = 0.
      const last = numTrainTimesteps - 1;
      for (let i = 0; i < steps; i++) out.push(steps > 1 ? last - (last * i) / (steps - 1) : last);
      return out;
    }
    case 'leading': {
      // arange(0, steps) · (N // steps) + steps_offset, reversed (DDIM paper's uniform "leading" grid).
      const ratio = Math.floor(numTrainTimesteps / steps);
      for (let i = steps - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
      return out;
    }
    case 'trailing': {
      // round(arange(N, 0, −N/steps)) − 1, written with exactly `steps` entries (numpy's float
      // arange can add a spurious one when N/steps is inexact).
      const ratio = numTrainTimesteps / steps;
      for (let i = 0; i < steps; i++) out.push(roundHalfToEven(numTrainTimesteps - i * ratio) - 1);
      return out;
    }
  }
}

/**
 * DDIM's timesteps (diffusers DDIMScheduler, `leading`): arange(0, steps)·(N // steps) + offset,
 * reversed. The CompVis/A1111 DDIM always uses offset 1 (50 steps: 981, 961, …, 21, 1).
 */
export function ddimTimesteps(steps: number, numTrainTimesteps: number, stepsOffset = 1): number[] {
  return spacedTimesteps(steps, numTrainTimesteps, 'leading', stepsOffset);
}
