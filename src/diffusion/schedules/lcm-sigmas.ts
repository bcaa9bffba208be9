/**
 * LCM's noise levels as A1111's LCM sampler picks them: Latent Consistency Models are distilled on
 * a coarse grid of 50 "original" timesteps (Luo et al. 2023, skipping step k = N/50: 19, 39, …, 999),
 * and A1111 spaces the steps evenly over that grid's indices, interpolating log σ between grid points.
 */
import type { DiscreteSchedule } from './discrete-schedule.js';
import { assertStepCount } from './step-count.js';

export const LCM_ORIGINAL_STEPS = 50;

export function lcmSigmas(steps: number, schedule: DiscreteSchedule, originalSteps = LCM_ORIGINAL_STEPS): number[] {
  assertStepCount(steps);
  const skip = Math.floor(schedule.numTrainTimesteps / originalSteps);
  if (!Number.isInteger(originalSteps) || originalSteps < 2 || skip < 1) {
    throw new RangeError(`LCM needs 2 ≤ originalSteps ≤ ${schedule.numTrainTimesteps}, got ${originalSteps}`);
  }
  // Grid point j (0 … originalSteps−1) is training timestep j·skip + skip − 1.
  const gridTimestep = (j: number) => j * skip + skip - 1;
  const last = originalSteps - 1;
  const sigmas: number[] = [];
  for (let i = 0; i < steps; i++) {
    const index = steps > 1 ? last - (last * i) / (steps - 1) : last;
    const low = Math.floor(index);
    const high = Math.ceil(index);
    const weight = index - low;
    // Grid points themselves read the table exactly; between them, log σ is interpolated.
    sigmas.push(
      weight === 0
        ? schedule.sigmas[gridTimestep(low)]!
        : Math.exp((1 - weight) * schedule.logSigmas[gridTimestep(low)]! + weight * schedule.logSigmas[gridTimestep(high)]!),
    );
  }
  sigmas.push(0);
  return sigmas;
}
