/**
 * fp16 against fp32 on the CPU, for the same built model (bench/generate.ts's SD 1.5 architecture
 * with half the channels, same seed): speed (it/s) and peak memory (the process's max RSS), each
 * variant loaded and run in its own process by bench/gpu/device-run.js so their memory does not
 * mix. Variants: fp32; fp16 weights and I/O with fp32 arithmetic (what most fp16 exports do on a
 * CPU); fp16 arithmetic throughout (what a GPU-targeted fp16 export asks of a CPU).
 *
 * BENCH_FP16_SIZE (default 256), BENCH_FP16_STEPS (default 8). Prints figures only.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { tempHome } from '../test/helpers/temp-home.js';
import type { PipelineConfig } from '../tools/model-builder/pipeline.js';
import { BENCH_MODEL } from './generate.js';
import type { DeviceResult } from './gpu/device-run.js';

const size = Number(process.env.BENCH_FP16_SIZE ?? 256);
const steps = Number(process.env.BENCH_FP16_STEPS ?? 8);
const here = path.dirname(fileURLToPath(import.meta.url));

const VARIANTS: Record<string, PipelineConfig['weights']> = {
  fp32: { dtype: 'float32', externalData: true },
  'fp16 weights+I/O': { dtype: 'float16', externalData: true, io: 'float16' },
  'fp16 compute': { dtype: 'float16', externalData: true, io: 'float16', compute: 'float16' },
};

/** Builds in a child process, so this process's heap never holds the weights. */
function build(dir: string, weights: PipelineConfig['weights']): void {
  const config = { ...BENCH_MODEL, weights };
  const builder = new URL('../tools/model-builder/pipeline.js', import.meta.url).href;
  execFileSync(process.execPath, ['--input-type=module', '-e', `import { buildPipeline } from ${JSON.stringify(builder)}; await buildPipeline(${JSON.stringify(dir)}, ${JSON.stringify(config)}, { seed: 3 });`], { stdio: 'inherit' });
}

function run(dir: string): DeviceResult {
  const out = execFileSync(process.execPath, [path.join(here, 'gpu', 'device-run.js'), 'cpu', dir, String(steps), String(size), '3600'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').at(-1)!) as DeviceResult;
}

export function benchFp16Cpu(): void {
  const home = tempHome('dts-bench-fp16-');
  try {
    const results: [string, DeviceResult][] = [];
    for (const [name, weights] of Object.entries(VARIANTS)) {
      const dir = path.join(home.home, name.replace(/\W+/g, '-'));
      build(dir, weights);
      const result = run(dir);
      if (!result.ok) throw new Error(`${name}: ${result.reason}`);
      results.push([name, result]);
    }
    const [, base] = results[0]!;
    for (const [name, r] of results) {
      console.log(
        `fp16-cpu: ${name}: ${r.itPerSec!.toFixed(2)} it/s (${(r.itPerSec! / base.itPerSec!).toFixed(2)}× fp32), peak RSS ${r.maxRssMiB} MiB (${(r.maxRssMiB! / base.maxRssMiB!).toFixed(2)}× fp32), load ${(r.loadMs! / 1000).toFixed(1)} s — ${size}×${size}, ${steps} steps, CFG`,
      );
    }
  } finally {
    home.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) benchFp16Cpu();
