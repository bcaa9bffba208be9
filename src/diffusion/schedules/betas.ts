/**
 * The training noise schedule (betas) a diffusers scheduler_config.json describes, with diffusers'
 * defaults (those of Stable Diffusion 1.x/2.x: scaled_linear from 0.00085 to 0.012 over 1000 steps).
 */
import type { SchedulerConfig } from '../types.js';

export const DEFAULT_NUM_TRAIN_TIMESTEPS = 1000;
export const DEFAULT_BETA_START = 0.00085;
export const DEFAULT_BETA_END = 0.012;
export const SUPPORTED_BETA_SCHEDULES = ['scaled_linear', 'linear', 'squaredcos_cap_v2'] as const;

export class UnsupportedBetaScheduleError extends Error {
  constructor(readonly betaSchedule: string) {
    super(`unsupported beta_schedule "${betaSchedule}"; supported: ${SUPPORTED_BETA_SCHEDULES.join(', ')}`);
    this.name = 'UnsupportedBetaScheduleError';
  }
}

/** numpy.linspace(start, end, count) in float64. */
function linspace(start: number, end: number, count: number): Float64Array {
  const out = new Float64Array(count);
  const step = count > 1 ? (end - start) / (count - 1) : 0;
  for (let i = 0; i < count; i++) out[i] = start + step * i;
  if (count > 1) out[count - 1] = end;
  return out;
}

/** Betas as diffusers' schedulers compute them from the config (float64 here; diffusers uses float32). */
export function betasFromConfig(config: SchedulerConfig = {}): Float64Array {
  const count = config.num_train_timesteps ?? DEFAULT_NUM_TRAIN_TIMESTEPS;
  const betaStart = config.beta_start ?? DEFAULT_BETA_START;
  const betaEnd = config.beta_end ?? DEFAULT_BETA_END;
  const schedule = config.beta_schedule ?? 'scaled_linear';
  if (!Number.isInteger(count) || count < 2) throw new RangeError(`num_train_timesteps must be an integer ≥ 2, got ${count}`);
  switch (schedule) {
    case 'linear':
      return linspace(betaStart, betaEnd, count);
    case 'scaled_linear': {
      // Latent Diffusion's schedule: linear in sqrt(beta), then squared.
      const roots = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), count);
      return roots.map((r) => r * r);
    }
    case 'squaredcos_cap_v2': {
      // Nichol & Dhariwal 2021 eq. 17 (cosine ᾱ with s = 0.008), betas capped at 0.999 as diffusers does.
      const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = Math.min(1 - alphaBar((i + 1) / count) / alphaBar(i / count), 0.999);
      return out;
    }
    default:
      throw new UnsupportedBetaScheduleError(schedule);
  }
}
