import { SamplerType } from '../../generated/draw_things_config_generated.js';
import { InvalidRequestError } from '../../diffusion/request.js';

/**
 * The app's SamplerType → the dts-util sampler (A1111's names) that computes the same thing, or,
 * for a type dts-util does not run, the nearest one it does, named the way the app's menu names it
 * so the user can pick it. "Trailing" and "AYS" are other step spacings, "Substep" another
 * stepping of the same method; TCD is a consistency sampler like LCM.
 */
const SAMPLERS: Record<SamplerType, { app: string; runs?: string; nearest: SamplerType }> = {
  [SamplerType.DPMPP2MKarras]: { app: 'DPM++ 2M Karras', runs: 'DPM++ 2M Karras', nearest: SamplerType.DPMPP2MKarras },
  [SamplerType.EulerA]: { app: 'Euler A', runs: 'Euler a', nearest: SamplerType.EulerA },
  [SamplerType.DDIM]: { app: 'DDIM', runs: 'DDIM', nearest: SamplerType.DDIM },
  [SamplerType.PLMS]: { app: 'PLMS', nearest: SamplerType.DPMPP2MKarras },
  [SamplerType.DPMPPSDEKarras]: { app: 'DPM++ SDE Karras', runs: 'DPM++ SDE Karras', nearest: SamplerType.DPMPPSDEKarras },
  [SamplerType.UniPC]: { app: 'UniPC', runs: 'UniPC', nearest: SamplerType.UniPC },
  [SamplerType.LCM]: { app: 'LCM', runs: 'LCM', nearest: SamplerType.LCM },
  [SamplerType.EulerASubstep]: { app: 'Euler A Substep', nearest: SamplerType.EulerA },
  [SamplerType.DPMPPSDESubstep]: { app: 'DPM++ SDE Substep', nearest: SamplerType.DPMPPSDEKarras },
  [SamplerType.TCD]: { app: 'TCD', nearest: SamplerType.LCM },
  [SamplerType.EulerATrailing]: { app: 'Euler A Trailing', nearest: SamplerType.EulerA },
  [SamplerType.DPMPPSDETrailing]: { app: 'DPM++ SDE Trailing', nearest: SamplerType.DPMPPSDEKarras },
  [SamplerType.DPMPP2MAYS]: { app: 'DPM++ 2M AYS', nearest: SamplerType.DPMPP2MKarras },
  [SamplerType.EulerAAYS]: { app: 'Euler A AYS', nearest: SamplerType.EulerA },
  [SamplerType.DPMPPSDEAYS]: { app: 'DPM++ SDE AYS', nearest: SamplerType.DPMPPSDEKarras },
  [SamplerType.DPMPP2MTrailing]: { app: 'DPM++ 2M Trailing', nearest: SamplerType.DPMPP2MKarras },
  [SamplerType.DDIMTrailing]: { app: 'DDIM Trailing', nearest: SamplerType.DDIM },
  [SamplerType.UniPCTrailing]: { app: 'UniPC Trailing', nearest: SamplerType.UniPC },
  [SamplerType.UniPCAYS]: { app: 'UniPC AYS', nearest: SamplerType.UniPC },
  [SamplerType.TCDTrailing]: { app: 'TCD Trailing', nearest: SamplerType.LCM },
};

/** The app's menu names of the samplers served, for error messages. */
const SERVED = Object.values(SAMPLERS)
  .filter((s) => s.runs)
  .map((s) => s.app)
  .join(', ');

/** GenerationConfiguration.sampler → the sampler name the seed pipeline takes; INVALID_ARGUMENT naming the nearest served one otherwise. */
export function samplerFor(type: number): string {
  const entry = SAMPLERS[type as SamplerType];
  if (!entry) throw new InvalidRequestError('sampler', `SamplerType ${type} is not one the Draw Things app defines (0 to ${Object.keys(SAMPLERS).length - 1}); this server runs ${SERVED}`);
  if (entry.runs) return entry.runs;
  throw new InvalidRequestError('sampler', `${entry.app} (SamplerType ${type}) is not one this server runs; the nearest it runs is ${SAMPLERS[entry.nearest].app}: pick that in the app (served: ${SERVED})`);
}
