/**
 * The model's discrete variance-preserving schedule seen in "sigma space" (Karras et al. 2022,
 * Table 1, VP column): x = x0 + σ·ε with σ_t = sqrt((1 − ᾱ_t)/ᾱ_t), the view k-diffusion's
 * DiscreteSchedule takes of a DDPM-trained model.
 */
import type { SchedulerConfig } from '../types.js';
import { betasFromConfig } from './betas.js';

export interface DiscreteSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float64Array;
  /** ᾱ_t = Π_{s≤t} (1 − β_s), index t = 0 … N−1. */
  readonly alphasCumprod: Float64Array;
  /** σ_t, ascending in t. */
  readonly sigmas: Float64Array;
  readonly logSigmas: Float64Array;
  /** σ at t = 0 (the smallest noise level the model was trained on). */
  readonly sigmaMin: number;
  /** σ at t = N − 1. */
  readonly sigmaMax: number;
  /** Continuous timestep for σ: linear interpolation in log σ between neighbouring timesteps, clamped to [0, N−1]. */
  sigmaToTimestep(sigma: number): number;
  /** σ for a (possibly fractional) timestep: the exact inverse of sigmaToTimestep inside [σ_min, σ_max]. */
  timestepToSigma(timestep: number): number;
}

export function createDiscreteSchedule(config: SchedulerConfig = {}): DiscreteSchedule {
  const betas = betasFromConfig(config);
  const count = betas.length;
  const alphasCumprod = new Float64Array(count);
  const sigmas = new Float64Array(count);
  const logSigmas = new Float64Array(count);
  let product = 1;
  for (let t = 0; t < count; t++) {
    product *= 1 - betas[t]!;
    alphasCumprod[t] = product;
    sigmas[t] = Math.sqrt((1 - product) / product);
    logSigmas[t] = Math.log(sigmas[t]!);
  }

  // k-diffusion DiscreteSchedule.sigma_to_t: the lower neighbour is the last timestep whose log σ is
  // ≤ log σ (capped at N−2 so a neighbour above exists), the weight is clamped to [0, 1].
  const sigmaToTimestep = (sigma: number): number => {
    const logSigma = Math.log(sigma);
    let low = lastIndexAtMost(logSigmas, logSigma);
    if (low < 0) low = 0;
    if (low > count - 2) low = count - 2;
    const lowLog = logSigmas[low]!;
    const highLog = logSigmas[low + 1]!;
    const weight = Math.min(1, Math.max(0, (lowLog - logSigma) / (lowLog - highLog)));
    return low + weight;
  };

  // k-diffusion DiscreteSchedule.t_to_sigma: interpolate log σ between floor(t) and ceil(t).
  const timestepToSigma = (timestep: number): number => {
    const t = Math.min(count - 1, Math.max(0, timestep));
    const low = Math.floor(t);
    const high = Math.ceil(t);
    const weight = t - low;
    // Whole timesteps read the table itself, so they agree exactly with `sigmas` (exp∘log is not exact).
    if (weight === 0) return sigmas[low]!;
    return Math.exp((1 - weight) * logSigmas[low]! + weight * logSigmas[high]!);
  };

  return {
    numTrainTimesteps: count,
    betas,
    alphasCumprod,
    sigmas,
    logSigmas,
    sigmaMin: sigmas[0]!,
    sigmaMax: sigmas[count - 1]!,
    sigmaToTimestep,
    timestepToSigma,
  };
}

/** Binary search in an ascending array: the last index whose value is ≤ target, or −1. */
function lastIndexAtMost(ascending: Float64Array, target: number): number {
  let lo = 0;
  let hi = ascending.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (ascending[mid]! <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
