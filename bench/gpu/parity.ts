/**
 * Does a GPU compute the same pictures as the CPU? Tiny pipelines the model builder makes (fp32
 * SD 1.5 layout, fp16 SD-Turbo layout), the same request on the CPU and on each device asked
 * for, PNG pixels compared: at most 2/255 apart passes (fp16 kernels round differently; a wrong
 * kernel, layout or upload is far more). Each GPU device also runs the pipeline through the graph
 * optimizer, its fused kernels against the CPU's plain graphs, within 4/255. Prints one line per
 * model and device, and a JSON line.
 *
 *   node dist/bench/gpu/parity.js <modelsDir> [devices, default cuda]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { LoadedModel } from '../../src/diffusion/loaded-model.js';
import { describeFused } from '../../src/diffusion/optimized-graphs.js';
import { runPipeline } from '../../src/diffusion/pipeline.js';
import { decodeOwnPng } from '../../src/diffusion/png.js';
import type { GenerationParams } from '../../src/diffusion/request.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The largest per-channel difference, out of 255, that still counts as the same picture. */
export const PARITY_TOLERANCE = 2;
const MODELS: { name: string; steps: number; cfgScale: number }[] = [
  { name: 'tiny-sd15', steps: 4, cfgScale: 7.5 },
  { name: 'tiny-sd-turbo-fp16', steps: 1, cfgScale: 1 },
];

function params(steps: number, cfgScale: number): GenerationParams {
  return { prompt: 'a red cube on a table', negativePrompt: 'blurry', width: 64, height: 64, steps, cfgScale, seed: 7, seedWasRandom: false, seedMode: 'default', sampler: 'Euler', batchSize: 1, batchCount: 1, enableHr: false, denoisingStrength: 0, model: '' };
}

/** The same picture through the graph optimizer may differ by this much more (issue 19's with-and-without bound, 4/255). */
export const OPTIMIZED_PARITY_TOLERANCE = 4;

async function picture(dir: string, name: string, device: string, request: GenerationParams, graphOptimize = false): Promise<{ rgb: Uint8Array; ranOn: string; fused: string }> {
  const model = await LoadedModel.load(dir, name, device, 0, { graphOptimize });
  try {
    const result = await runPipeline(model, request, { version: 'parity', progress: () => undefined, checkCancelled: () => undefined });
    return { rgb: decodeOwnPng(result.images[0]!).rgb, ranOn: model.fallbacks.length > 0 ? `${model.device} (fell back: ${model.fallbacks.join('; ')})` : model.device, fused: describeFused(model.fused) };
  } finally {
    await model.release();
  }
}

const [modelsDir, deviceList = 'cuda'] = process.argv.slice(2);
if (!modelsDir) {
  console.error('usage: parity.js <modelsDir> [devices]');
  process.exit(2);
}
const results: { model: string; device: string; ok: boolean; maxDiff?: number; reason?: string; tolerance: number; fused?: string }[] = [];
for (const { name, steps, cfgScale } of MODELS) {
  const dir = path.join(modelsDir, name);
  if (!fs.existsSync(path.join(dir, 'model_index.json'))) execFileSync(process.execPath, [path.join(here, '..', '..', 'tools', 'model-builder', 'cli.js'), name, dir, '--seed', '3'], { stdio: 'ignore' });
  const request = params(steps, cfgScale);
  const reference = await picture(dir, name, 'cpu', request);
  // Each GPU device as it is, then through the graph optimizer (its fused kernels), against the CPU's plain graphs.
  for (const [device, optimized] of deviceList.split(',').filter(Boolean).flatMap((d) => [[d, false], [d, true]] as const)) {
    const label = optimized ? `${device} optimized` : device;
    const tolerance = optimized ? OPTIMIZED_PARITY_TOLERANCE : PARITY_TOLERANCE;
    try {
      const got = await picture(dir, name, device, request, optimized);
      if (got.ranOn !== device) {
        results.push({ model: name, device: label, ok: false, reason: `ran on ${got.ranOn}`, tolerance });
        continue;
      }
      let maxDiff = 0;
      for (let i = 0; i < got.rgb.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.rgb[i]! - reference.rgb[i]!));
      results.push({ model: name, device: label, ok: maxDiff <= tolerance, maxDiff, tolerance, ...(got.fused ? { fused: got.fused } : {}) });
    } catch (error) {
      results.push({ model: name, device: label, ok: false, reason: (error as Error).message.split('\n')[0], tolerance });
    }
  }
}
for (const r of results) {
  console.log(`parity ${r.model} on ${r.device} vs cpu: ${r.maxDiff !== undefined ? `max |Δ| ${r.maxDiff}/255 per channel (tolerance ${r.tolerance}) ${r.ok ? 'MATCH' : 'DIFFERENT'}` : `not compared: ${r.reason}`}${r.fused ? `; ${r.fused}` : ''}`);
}
console.log(JSON.stringify({ parity: results }));
process.exit(0);
