import { createNoise } from './noise.js';
import { createTorchCpuNoise } from './torch-noise.js';
import type { NoiseSource } from './types.js';

/**
 * The generators a seed can drive, by the name a request gives (seed_mode): 'default' is this
 * server's own (noise.ts), 'torch-cpu' is torch's CPU generator (torch-noise.ts).
 */
const GENERATORS = {
  default: createNoise,
  'torch-cpu': createTorchCpuNoise,
} satisfies Record<string, (seed: number) => NoiseSource>;

export type SeedMode = keyof typeof GENERATORS;
export const SEED_MODES = Object.keys(GENERATORS) as SeedMode[];

/**
 * Noise for a batch in which image i has its own seeded stream: every randn(n) call takes n/batch
 * numbers from each image's stream in turn. So an image depends only on its own seed, never on
 * which other images share its batch: seed S gives the same picture alone or as image 3 of 8.
 */
export function batchNoise(seeds: number[], seedMode: SeedMode = 'default'): NoiseSource {
  const streams = seeds.map((seed) => GENERATORS[seedMode](seed));
  return {
    randn(n: number): Float32Array {
      const per = n / streams.length;
      if (!Number.isInteger(per)) throw new Error(`batch noise: ${n} numbers do not split over ${streams.length} images`);
      const out = new Float32Array(n);
      streams.forEach((stream, i) => out.set(stream.randn(per), i * per));
      return out;
    },
  };
}
