/** Step sigma lists built from the model's own discrete schedule (as opposed to Karras/exponential). */
import type { SchedulerConfig } from '../types.js';
import type { DiscreteSchedule } from './discrete-schedule.js';
import { ddimTimesteps, isTimestepSpacing, spacedTimesteps, UnsupportedTimestepSpacingError } from './timesteps.js';

/**
 * σ for each timestep (log-σ interpolation for fractional ones, as k-diffusion's t_to_sigma;
 * diffusers' EulerDiscreteScheduler interpolates σ linearly, which differs only between
 * integer timesteps), then the final 0 every sampler ends on.
 */
export function timestepsToSigmas(timesteps: readonly number[], schedule: DiscreteSchedule): number[] {
  return [...timesteps.map((t) => schedule.timestepToSigma(t)), 0];
}

/**
 * The model's own spacing: `timestep_spacing` and `steps_offset` from the scheduler config. Without a
 * spacing in the config this is `linspace` — diffusers' default for the k-diffusion-style schedulers
 * and what A1111's "Automatic" schedule (k-diffusion get_sigmas) does.
 */
export function modelSigmas(steps: number, schedule: DiscreteSchedule, config: SchedulerConfig = {}): number[] {
  const spacing = config.timestep_spacing ?? 'linspace';
  if (!isTimestepSpacing(spacing)) throw new UnsupportedTimestepSpacingError(spacing);
  return timestepsToSigmas(spacedTimesteps(steps, schedule.numTrainTimesteps, spacing, config.steps_offset ?? 0), schedule);
}

/**
 * DDIM's noise levels: DDIM timesteps (steps_offset from the config, else 1 as CompVis/A1111) as
 * sigmas. The last step goes to σ = 0 (diffusers' set_alpha_to_one), which the Sampler contract needs.
 * A config that asks for `trailing` spacing (SD-Turbo, SDXL-Turbo) gets it, as diffusers'
 * DDIMScheduler gives it: one step then starts at timestep 999, not at 1.
 */
export function ddimSigmas(steps: number, schedule: DiscreteSchedule, config: SchedulerConfig = {}): number[] {
  if (config.timestep_spacing === 'trailing') return timestepsToSigmas(spacedTimesteps(steps, schedule.numTrainTimesteps, 'trailing'), schedule);
  return timestepsToSigmas(ddimTimesteps(steps, schedule.numTrainTimesteps, config.steps_offset ?? 1), schedule);
}
