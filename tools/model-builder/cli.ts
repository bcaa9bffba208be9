/**
 * Builds a generated Stable Diffusion folder:
 *   node dist/tools/model-builder/cli.js <tiny-sd15|tiny-sd15-inpaint|tiny-sd2-v|sd15|…> <outDir> [--seed N]
 * Used at build time for the built-in smoke model and on demand for the SD 1.5-size benchmark model.
 */
import path from 'node:path';

import { buildPipeline, FAMILY_CONFIGS, INPAINT_CONFIGS, SD15, SD15_FP16, SD15_FP16_FUSED, TINY_SD15, TINY_SD2_V, type PipelineConfig } from './pipeline.js';

const CONFIGS: Record<string, PipelineConfig> = { 'tiny-sd15': TINY_SD15, 'tiny-sd2-v': TINY_SD2_V, sd15: SD15, 'sd15-fp16': SD15_FP16, 'sd15-fp16-fused': SD15_FP16_FUSED, ...FAMILY_CONFIGS, ...INPAINT_CONFIGS };
const USAGE = `usage: cli.js <${Object.keys(CONFIGS).join('|')}> <outDir> [--seed N]`;

function parseArguments(argv: string[]): { config: PipelineConfig; outDir: string; seed: number } {
  const positional: string[] = [];
  let seed = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--seed' || arg.startsWith('--seed=')) {
      const value = arg === '--seed' ? argv[++i] : arg.slice('--seed='.length);
      seed = Number(value);
      if (value === undefined || !Number.isInteger(seed) || seed < 0) throw new Error(`--seed needs a non-negative integer\n${USAGE}`);
    } else if (arg.startsWith('-')) {
      throw new Error(`unknown option ${arg}\n${USAGE}`);
    } else {
      positional.push(arg);
    }
  }
  const [name, outDir] = positional;
  const config = name === undefined ? undefined : CONFIGS[name];
  if (!config || outDir === undefined || positional.length !== 2) throw new Error(USAGE);
  return { config, outDir: path.resolve(outDir), seed };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  const { config, outDir, seed } = parseArguments(process.argv.slice(2));
  const started = performance.now();
  await buildPipeline(outDir, config, {
    seed,
    onComponent: (r) => console.log(`${r.folder}: ${r.parameters.toLocaleString('en-US')} parameters, ${megabytes(r.bytes)}`),
  });
  console.log(`built ${config.name} (seed ${seed}) in ${outDir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
