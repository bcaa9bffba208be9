/** The noise-schedule API in one import: the model's discrete schedule and the step sigma lists. */
import { createDiscreteSchedule, type DiscreteSchedule } from './schedules/discrete-schedule.js';
import type { SchedulerConfig } from './types.js';

export { betasFromConfig, SUPPORTED_BETA_SCHEDULES, UnsupportedBetaScheduleError } from './schedules/betas.js';
export { createDiscreteSchedule, type DiscreteSchedule } from './schedules/discrete-schedule.js';
export { exponentialSigmas } from './schedules/exponential.js';
export { karrasSigmas } from './schedules/karras.js';
export { LCM_ORIGINAL_STEPS, lcmSigmas } from './schedules/lcm-sigmas.js';
export { ddimSigmas, modelSigmas, timestepsToSigmas } from './schedules/model-sigmas.js';
export {
  ddimTimesteps,
  roundHalfToEven,
  spacedTimesteps,
  TIMESTEP_SPACINGS,
  UnsupportedTimestepSpacingError,
  type TimestepSpacing,
} from './schedules/timesteps.js';

/** The model's discrete schedule for a scheduler config (same as createDiscreteSchedule). */
export function discreteSchedule(config: SchedulerConfig = {}): DiscreteSchedule {
  return createDiscreteSchedule(config);
}
