/**
 * The shapes the diffusion code shares. Samplers work k-diffusion style in "sigma space":
 * x = x0 + sigma·eps, and a denoiser maps (x, sigma) to its estimate of x0.
 */

/** The latent channels of every Stable Diffusion VAE served here (SD 1.x, 2.x, XL). */
export const LATENT_CHANNELS = 4;

/** Latents are flat Float32Arrays in NCHW order; `shape` says how to read them. */
export interface Latents {
  data: Float32Array;
  shape: [batch: number, channels: number, height: number, width: number];
}

/**
 * Estimates the clean sample x0 from x at noise level sigma (same length as x, NCHW).
 * Cancellation happens between steps, in the sampler's onStep callback.
 */
export type Denoiser = (x: Float32Array, sigma: number) => Promise<Float32Array>;

/** A seeded source of standard normal numbers: the same seed gives the same numbers everywhere. */
export interface NoiseSource {
  /** n independent N(0, 1) samples. */
  randn(n: number): Float32Array;
}

/** Everything a sampler needs besides the starting latents. */
export interface SamplerContext {
  denoise: Denoiser;
  /** Noise levels to visit, descending, the last one 0 (length = steps + 1). */
  sigmas: number[];
  noise: NoiseSource;
  /** Called after each step (0-based), for progress events and cancellation checks. */
  onStep?: (step: number, total: number) => void | Promise<void>;
}

/**
 * A sampler: starts from x = (initial noise)·sigmas[0] (already scaled by the caller) and returns
 * the final sample at sigma = 0. Pure apart from the denoiser and noise calls.
 */
export type Sampler = (x: Float32Array, context: SamplerContext) => Promise<Float32Array>;

/** scheduler/scheduler_config.json, snake_case keys as diffusers writes them. */
export interface SchedulerConfig {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: 'scaled_linear' | 'linear' | string;
  prediction_type?: 'epsilon' | 'v_prediction' | 'sample' | string;
  timestep_spacing?: 'leading' | 'trailing' | 'linspace' | string;
  steps_offset?: number;
  [key: string]: unknown;
}
