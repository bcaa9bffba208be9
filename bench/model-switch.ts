/**
 * Model switch time, cache warm against cold: requests alternate between two models through
 * GenerateImage (real server, TLS). Cold: a memory budget with room for one model, so every
 * switch evicts the other and reloads. Warm: room for both, so a switch loads nothing. Each request
 * is 1 step at 64×64 without guidance, so the figure is mostly the switch itself.
 *
 * BENCH_SWITCH_MODEL: half (default; SD 1.5's architecture with half the channels, the model of
 * bench/generate.ts, ≈1 GB of weights) or tiny (the test pipelines). BENCH_SWITCH_RUNS: switches
 * per mode (default 4). Prints figures only.
 */
import fs from 'node:fs';
import path from 'node:path';

import { unaryCall } from '../src/client/client.js';
import { modelResidentBytes } from '../src/diffusion/memory-estimate.js';
import { formatBytes } from '../src/util/format-bytes.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../src/generated/image_generation.js';
import { median } from '../src/util/median.js';
import { request } from '../test/helpers/requests.js';
import { startTestServer } from '../test/helpers/test-server.js';
import { tempHome } from '../test/helpers/temp-home.js';
import { buildPipeline, TINY_SD15 } from '../tools/model-builder/pipeline.js';
import { BENCH_MODEL } from './generate.js';

const which = process.env.BENCH_SWITCH_MODEL ?? 'half';
const runs = Number(process.env.BENCH_SWITCH_RUNS ?? 4);

/** Two model folders with the same weights: the second hard-links the first's files (no second build), yet loads as its own model. */
async function buildModels(modelsDir: string): Promise<string[]> {
  const names = ['switch-a', 'switch-b'];
  const first = path.join(modelsDir, names[0]!);
  await buildPipeline(first, which === 'tiny' ? TINY_SD15 : BENCH_MODEL, { seed: 4 });
  for (const entry of fs.readdirSync(first, { recursive: true, withFileTypes: true })) {
    const from = path.join(entry.parentPath, entry.name);
    const to = path.join(modelsDir, names[1]!, path.relative(first, from));
    if (entry.isDirectory()) fs.mkdirSync(to, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.linkSync(from, to);
    }
  }
  return names;
}

/** Milliseconds per switch (client wall time of the request after the switch) and the load times the server reported. */
async function switches(modelsDir: string, names: string[], memoryBudget: string): Promise<{ wallMs: number[]; loadMs: number[] }> {
  const t = await startTestServer({ modelPath: modelsDir, memoryBudget });
  try {
    const c = t.client();
    const generate = (model: string) =>
      unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ model, steps: 1, cfgScale: 1, width: 64, height: 64, sampler: 'euler' }), 600_000);
    for (const model of names) await generate(model); // both loaded once (the second evicts the first when cold)
    const wallMs: number[] = [];
    const loadMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const reply = await generate(names[i % 2]!);
      wallMs.push(performance.now() - started);
      const load = reply.events.map((e) => / loaded in (\d+) ms/.exec(e)?.[1]).find(Boolean);
      if (load) loadMs.push(Number(load));
    }
    return { wallMs, loadMs };
  } finally {
    await t.stop();
  }
}

export async function benchModelSwitch(): Promise<{ coldMs: number; warmMs: number; ratio: number }> {
  const home = tempHome('dts-bench-switch-');
  try {
    const modelsDir = path.join(home.home, 'models');
    const built = performance.now();
    const names = await buildModels(modelsDir);
    const bytes = modelResidentBytes(path.join(modelsDir, names[0]!));
    const buildS = (performance.now() - built) / 1000;
    const cold = await switches(modelsDir, names, String(Math.floor(bytes * 1.5)));
    const warm = await switches(modelsDir, names, String(bytes * 3));
    const coldMs = median(cold.wallMs);
    const warmMs = median(warm.wallMs);
    const ratio = coldMs / warmMs;
    console.log(
      `model switch (${which}: ${formatBytes(bytes)} of weights per model, built in ${buildS.toFixed(1)} s): ` +
        `cold cache median ${coldMs.toFixed(0)} ms per switch (model load median ${median(cold.loadMs).toFixed(0)} ms, ${cold.loadMs.length}/${runs} switches loaded) ` +
        `vs warm cache median ${warmMs.toFixed(0)} ms (${warm.loadMs.length}/${runs} loaded) over ${runs} switches → cold/warm ${ratio.toFixed(1)}×, a reload adds ${(coldMs - warmMs).toFixed(0)} ms`,
    );
    return { coldMs, warmMs, ratio };
  } finally {
    home.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchModelSwitch();
