/**
 * Sampler names as A1111 (stable-diffusion-webui) spells them, with their usual aliases, and the noise
 * schedule A1111 pairs with each: its "Automatic" schedule is the model's own discretization
 * (k-diffusion get_sigmas), "… Karras" names use Karras et al. 2022 between the model's σ_min and
 * σ_max, DDIM uses DDIM's timesteps and LCM its 50-step distillation grid. UniPC runs on the model's
 * own schedule too (see unipc.ts for why on the sigma grid).
 */
import type { DiscreteSchedule } from '../schedules/discrete-schedule.js';
import { karrasSigmas } from '../schedules/karras.js';
import { lcmSigmas } from '../schedules/lcm-sigmas.js';
import { ddimSigmas, modelSigmas } from '../schedules/model-sigmas.js';
import type { Sampler, SchedulerConfig } from '../types.js';
import { quoteInput } from '../../util/quote-input.js';
import { sampleDdim } from './ddim.js';
import { sampleDpmpp2m } from './dpmpp-2m.js';
import { sampleDpmpp2mSde } from './dpmpp-2m-sde.js';
import { sampleDpmppSde } from './dpmpp-sde.js';
import { sampleEuler } from './euler.js';
import { sampleEulerAncestral } from './euler-ancestral.js';
import { sampleHeun } from './heun.js';
import { sampleLcm } from './lcm.js';
import { sampleUniPc } from './unipc.js';

export type SigmaScheduleFor = (steps: number, schedule: DiscreteSchedule, config?: SchedulerConfig) => number[];

export interface ResolvedSampler {
  /** Canonical A1111 name. */
  name: string;
  sample: Sampler;
  /** The step noise levels this sampler uses (descending, ending with 0, length steps + 1). */
  sigmas: SigmaScheduleFor;
}

const karrasForModel: SigmaScheduleFor = (steps, schedule) => karrasSigmas(steps, schedule.sigmaMin, schedule.sigmaMax);
const lcmForModel: SigmaScheduleFor = (steps, schedule) => lcmSigmas(steps, schedule);

interface SamplerEntry extends ResolvedSampler {
  /** Extra spellings, compared after normalizeSamplerName. */
  aliases: string[];
}

const ENTRIES: SamplerEntry[] = [
  { name: 'Euler a', sample: sampleEulerAncestral, sigmas: modelSigmas, aliases: ['k_euler_a', 'k_euler_ancestral', 'euler ancestral'] },
  { name: 'Euler', sample: sampleEuler, sigmas: modelSigmas, aliases: ['k_euler'] },
  { name: 'Heun', sample: sampleHeun, sigmas: modelSigmas, aliases: ['k_heun'] },
  { name: 'DDIM', sample: sampleDdim, sigmas: ddimSigmas, aliases: [] },
  { name: 'DPM++ 2M', sample: sampleDpmpp2m, sigmas: modelSigmas, aliases: ['k_dpmpp_2m'] },
  { name: 'DPM++ 2M Karras', sample: sampleDpmpp2m, sigmas: karrasForModel, aliases: ['k_dpmpp_2m_ka', 'k_dpmpp_2m_karras'] },
  { name: 'DPM++ 2M SDE', sample: sampleDpmpp2mSde, sigmas: modelSigmas, aliases: ['k_dpmpp_2m_sde'] },
  {
    name: 'DPM++ 2M SDE Karras',
    sample: sampleDpmpp2mSde,
    sigmas: karrasForModel,
    aliases: ['k_dpmpp_2m_sde_ka', 'k_dpmpp_2m_sde_karras'],
  },
  // Two UNet evaluations per step (one for the last); plain Gaussian noise, not A1111's Brownian tree.
  { name: 'DPM++ SDE Karras', sample: sampleDpmppSde, sigmas: karrasForModel, aliases: ['k_dpmpp_sde_ka', 'k_dpmpp_sde_karras'] },
  { name: 'UniPC', sample: sampleUniPc, sigmas: modelSigmas, aliases: ['unipc'] },
  { name: 'LCM', sample: sampleLcm, sigmas: lcmForModel, aliases: ['k_lcm'] },
];

/** The canonical names, in menu order; the first is the default for an empty name. */
export const SAMPLER_NAMES: readonly string[] = ENTRIES.map((entry) => entry.name);
export const DEFAULT_SAMPLER_NAME = 'Euler a';

export class UnknownSamplerError extends Error {
  constructor(readonly requested: string) {
    super(`unknown sampler ${quoteInput(requested)}; valid samplers: ${SAMPLER_NAMES.join(', ')}`);
    this.name = 'UnknownSamplerError';
  }
}

/** Lowercase, "++" → "pp", and no spaces, underscores, dashes or dots: "DPM++ 2M Karras" → "dpmpp2mkarras". */
export function normalizeSamplerName(name: string): string {
  return name.toLowerCase().replaceAll('++', 'pp').replace(/[\s_.-]+/g, '');
}

const BY_NORMALIZED_NAME = new Map<string, SamplerEntry>();
for (const entry of ENTRIES) {
  for (const spelling of [entry.name, ...entry.aliases]) BY_NORMALIZED_NAME.set(normalizeSamplerName(spelling), entry);
}

export function resolveSampler(name: string): ResolvedSampler {
  const normalized = normalizeSamplerName(name);
  const entry = BY_NORMALIZED_NAME.get(normalized === '' ? normalizeSamplerName(DEFAULT_SAMPLER_NAME) : normalized);
  if (!entry) throw new UnknownSamplerError(name);
  return { name: entry.name, sample: entry.sample, sigmas: entry.sigmas };
}

