/**
 * The model families the server runs and what each wants when a request leaves a setting at 0
 * (proto3's "unset"). A family is a base architecture plus, optionally, how it was distilled:
 *
 *   sd1, sd2, sdxl        Stable Diffusion 1.x, 2.x, XL: 20 steps, CFG 7, Euler a
 *   sd-turbo, sdxl-turbo  adversarially distilled (ADD): 1 step, no guidance (cfg 0), trailing timesteps
 *   lcm-sd1, lcm-sd2, lcm-sdxl
 *                         latent-consistency distilled: 4 steps, the LCM sampler; a UNet with
 *                         timestep_cond takes guidance as an embedding (cfg 8.5, one UNet batch),
 *                         one without (LCM-LoRA fused) uses ordinary CFG, by default off (cfg 1)
 */

export type BaseFamily = 'sd1' | 'sd2' | 'sdxl';
export type Distillation = 'none' | 'turbo' | 'lcm';
export type ModelFamily = 'sd1' | 'sd2' | 'sdxl' | 'sd-turbo' | 'sdxl-turbo' | 'lcm-sd1' | 'lcm-sd2' | 'lcm-sdxl';

export const MODEL_FAMILIES: readonly ModelFamily[] = ['sd1', 'sd2', 'sdxl', 'sd-turbo', 'sdxl-turbo', 'lcm-sd1', 'lcm-sd2', 'lcm-sdxl'];

/**
 * The family as people read it: an inpainting UNet (9 input channels) shows as "sd1 (inpainting)".
 * Machine-read answers keep the family bare and say inpainting in a field of its own.
 */
export function familyLabel(family: string, inpainting: boolean | undefined): string {
  return inpainting ? `${family} (inpainting)` : family;
}

/** Values a request gets for fields it leaves at 0 / empty. */
export interface FamilyDefaults {
  /** Width and height in pixels. */
  size: number;
  steps: number;
  cfgScale: number;
  sampler: string;
}

/** The defaults of SD 1.x, and of requests checked before a model is known. */
export const GENERIC_DEFAULTS: FamilyDefaults = { size: 512, steps: 20, cfgScale: 7, sampler: 'Euler a' };

/** Native sizes when a folder's configs do not say (SD 2.x 768-v is the common 2.x release). */
const BASE_SIZE: Record<BaseFamily, number> = { sd1: 512, sd2: 768, sdxl: 1024 };

/** diffusers' LatentConsistencyModelPipeline default guidance_scale. */
export const LCM_EMBEDDED_GUIDANCE = 8.5;

export function familyName(base: BaseFamily, distillation: Distillation): ModelFamily {
  if (distillation === 'turbo') return base === 'sdxl' ? 'sdxl-turbo' : 'sd-turbo';
  if (distillation === 'lcm') return `lcm-${base}`;
  return base;
}

/**
 * Defaults for a family. `nativeSize` is the UNet's sample_size in pixels when the folder gives it.
 * SD-Turbo's 1 step starts at timestep 999 because its scheduler spaces timesteps "trailing".
 */
export function familyDefaults(base: BaseFamily, distillation: Distillation, options: { nativeSize?: number; guidanceEmbedded?: boolean } = {}): FamilyDefaults {
  const size = options.nativeSize ?? BASE_SIZE[base];
  if (distillation === 'turbo') return { size, steps: 1, cfgScale: 0, sampler: 'Euler a' };
  if (distillation === 'lcm') return { size, steps: 4, cfgScale: options.guidanceEmbedded ? LCM_EMBEDDED_GUIDANCE : 1, sampler: 'LCM' };
  return { ...GENERIC_DEFAULTS, size };
}
