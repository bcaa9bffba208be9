export { sampleDdim } from './ddim.js';
export { sampleDpmpp2m } from './dpmpp-2m.js';
export { sampleDpmpp2mSde } from './dpmpp-2m-sde.js';
export { sampleDpmppSde } from './dpmpp-sde.js';
export { sampleEuler } from './euler.js';
export { sampleEulerAncestral } from './euler-ancestral.js';
export { sampleHeun } from './heun.js';
export { sampleLcm } from './lcm.js';
export { sampleUniPc } from './unipc.js';
export {
  DEFAULT_SAMPLER_NAME,
  normalizeSamplerName,
  resolveSampler,
  SAMPLER_NAMES,
  UnknownSamplerError,
  type ResolvedSampler,
  type SigmaScheduleFor,
} from './registry.js';
