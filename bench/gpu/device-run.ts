/**
 * One device's part of bench/gpu, in its own process so that its peak memory, its driver state
 * and any crash belong to that device alone. Loads the model on exactly the device asked for
 * (a silent fallback to CPU counts as "not available"), warms up (WebGPU compiles its shaders on
 * the first run), then times one generation and prints a single JSON line on stdout.
 *
 *   node dist/bench/gpu/device-run.js <device> <modelDir> <steps> <size> <capSeconds> [optimize|as-is|optimize-without=Op,Op] [webgpu settings JSON]
 *
 * `optimize-without=GroupNorm,SkipGroupNorm` loads each part optimized by every pass but those
 * (written beside it as .model.dts-util-bench.onnx), to time what one fusion is worth.
 *
 * `capSeconds` bounds the timed sampling: a device too slow to finish every step in it (the CPU
 * on a big model) reports its speed over the steps it did, marked as capped.
 */
import fs from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { optimizeGraph, type OptimizeTarget } from '../../src/diffusion/graph-optimizer/index.js';
import { LoadedModel } from '../../src/diffusion/loaded-model.js';
import { deviceOpener, type SessionOpener, type WebGpuSettings } from '../../src/diffusion/onnx-session.js';
import { describeFused } from '../../src/diffusion/optimized-graphs.js';
import { runPipeline } from '../../src/diffusion/pipeline.js';
import type { GenerationParams } from '../../src/diffusion/request.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';

export interface DeviceResult {
  device: string;
  ok: boolean;
  /** Why the device could not be measured (ok = false). */
  reason?: string;
  loadMs?: number;
  warmupMs?: number;
  steps?: number;
  stepsDone?: number;
  capped?: boolean;
  itPerSec?: number;
  decodeMs?: number;
  totalMs?: number;
  /** Peak resident memory of this process (the host side of the device's work). */
  maxRssMiB?: number;
  /** What the graph optimizer fused at load, when the model was loaded through it. */
  fused?: string;
}

class CapReached extends Error {}

function params(size: number, steps: number): GenerationParams {
  return {
    prompt: 'a photograph of an astronaut riding a horse',
    negativePrompt: '',
    width: size,
    height: size,
    steps,
    cfgScale: 7.5,
    seed: 42,
    seedWasRandom: false,
    seedMode: 'default',
    sampler: 'Euler',
    batchSize: 1,
    batchCount: 1,
    enableHr: false,
    denoisingStrength: 0,
    model: '',
  };
}

/**
 * Whether the execution provider starts at all, on a one-node model: a missing CUDA library or
 * WebGPU adapter shows in a second, where loading SD 1.5 only to fall back would take a minute.
 */
async function probe(device: string): Promise<string | undefined> {
  if (device === 'cpu') return undefined;
  const g = new GraphBuilder('probe');
  const x = g.input('x', DataType.FLOAT16, [4]);
  g.alias(g.node('Add', [x, x]), 'y');
  g.output('y', DataType.FLOAT16, [4]);
  try {
    const session = await ort.InferenceSession.create(g.encode(), { executionProviders: [device === 'cuda' ? { name: 'cuda', deviceId: 0 } : device] });
    await session.release();
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}

/** Opens each part optimized without the passes adding `without`'s ops, noting what was fused per part. */
function partialOptimizer(without: string[], open: SessionOpener, fused: Record<string, Record<string, number>>): SessionOpener {
  return (file, device, gpu) => {
    const result = optimizeGraph(new Uint8Array(fs.readFileSync(file)), device as OptimizeTarget, { without });
    fused[path.basename(path.dirname(file))] = result.fused;
    const optimized = path.join(path.dirname(file), `.model.dts-util-bench.onnx`);
    fs.writeFileSync(optimized, result.bytes);
    return open(optimized, device, gpu);
  };
}

async function measure(device: string, modelDir: string, steps: number, size: number, capSeconds: number, mode: string, webgpu: WebGpuSettings): Promise<DeviceResult> {
  const without = mode.startsWith('optimize-without=') ? mode.slice('optimize-without='.length).split(',').filter(Boolean) : undefined;
  const partlyFused: Record<string, Record<string, number>> = {};
  const unavailable = await probe(device);
  if (unavailable) return { device, ok: false, reason: unavailable };
  let model: LoadedModel;
  try {
    // 'optimize': as the server loads it by default, through the graph optimizer (its first load writes the cache).
    const open = without ? partialOptimizer(without, deviceOpener(webgpu), partlyFused) : deviceOpener(webgpu);
    model = await LoadedModel.load(modelDir, 'sd15-fp16', device, 0, { graphOptimize: mode === 'optimize', open });
    if (without) model.fused = partlyFused;
  } catch (error) {
    return { device, ok: false, reason: (error as Error).message.split('\n')[0] };
  }
  if (model.device !== device) {
    await model.release();
    return { device, ok: false, reason: `fell back to ${model.device}: ${model.fallbacks.join('; ') || 'no reason given'}` };
  }
  const hooks = { version: 'bench', progress: () => undefined, checkCancelled: () => undefined };
  const warmStart = performance.now();
  await runPipeline(model, params(size, 1), hooks);
  const warmupMs = performance.now() - warmStart;
  // A provider that opens but fails its first run falls back inside the session (onnx-session.ts):
  // that too is a device that did not work.
  if (model.device !== device || model.fallbacks.length > 0) {
    await model.release();
    return { device, ok: false, reason: `fell back to ${model.device} on the first run: ${model.fallbacks.join('; ')}` };
  }

  // Steps are timed from the sampler's own progress reports, so a capped run still has a rate.
  let samplingStart = 0;
  let lastStepAt = 0;
  let stepsDone = 0;
  const timedHooks = {
    version: 'bench',
    progress: (p: { stage: string; step: number }) => {
      if (p.stage === 'text_encoded' && samplingStart === 0) samplingStart = performance.now();
      if (p.stage === 'sampling') {
        stepsDone = p.step;
        lastStepAt = performance.now();
      }
    },
    checkCancelled: () => {
      if (stepsDone < steps && samplingStart > 0 && performance.now() - samplingStart > capSeconds * 1000) throw new CapReached();
    },
  };
  const started = performance.now();
  try {
    const result = await runPipeline(model, params(size, steps), timedHooks);
    const timings = (JSON.parse(result.info) as { timings_ms: Record<string, number> }).timings_ms;
    return {
      device,
      ok: true,
      loadMs: model.loadMs,
      fused: describeFused(model.fused),
      warmupMs,
      steps,
      stepsDone: steps,
      capped: false,
      itPerSec: steps / (timings.sampling_ms! / 1000),
      decodeMs: timings.decode_ms,
      totalMs: performance.now() - started,
    };
  } catch (error) {
    if (!(error instanceof CapReached)) throw error;
    return { device, ok: true, loadMs: model.loadMs, fused: describeFused(model.fused), warmupMs, steps, stepsDone, capped: true, itPerSec: stepsDone / ((lastStepAt - samplingStart) / 1000) };
  } finally {
    await model.release();
  }
}

/**
 * This process's own peak RSS. getrusage's maxRSS is not it on Linux: a child started by a large
 * parent (`npm run bench` after the model benchmarks) reports the parent's peak. VmHWM belongs to
 * this process's memory map alone; elsewhere (macOS) maxRSS is what there is.
 */
function peakRssMiB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Math.round(Number(hwm[1]) / 1024);
  } catch {
    // No /proc: not Linux.
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

const [device, modelDir, steps, size, cap, mode, webgpu] = process.argv.slice(2);
if (!device || !modelDir) {
  console.error('usage: device-run.js <device> <modelDir> <steps> <size> <capSeconds>');
  process.exit(2);
}
let result: DeviceResult;
try {
  result = await measure(device, modelDir, Number(steps ?? 20), Number(size ?? 512), Number(cap ?? 120), mode ?? 'as-is', JSON.parse(webgpu ?? '{}') as WebGpuSettings);
} catch (error) {
  result = { device, ok: false, reason: `failed while running: ${(error as Error).message.split('\n')[0]}` };
}
result.maxRssMiB = peakRssMiB();
console.log(JSON.stringify(result));
// ONNX Runtime's GPU providers can keep native threads alive; the result is out, so leave now.
process.exit(0);
