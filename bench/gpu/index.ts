/**
 * bench/gpu: SD 1.5 (the real architecture, fp16 weights, I/O and arithmetic, built by the
 * project's model builder: no hub needed) at 512×512 × 20 steps on every device that works on
 * this machine — cuda, webgpu, cpu — printing it/s and peak memory per device. Two builds: with
 * attention fused into ORT's MultiHeadAttention (what ORT's SD optimizer makes for GPUs) and
 * with plain MatMul/Softmax attention (what a bare `optimum-cli export onnx --fp16` gives).
 *
 *   node dist/bench/gpu/index.js            (bench/gpu/run.sh sets up a bare GPU machine first)
 *
 * Environment: BENCH_GPU_DEVICES (default cuda,webgpu,cpu), BENCH_GPU_STEPS (20),
 * BENCH_GPU_SIZE (512), BENCH_GPU_CPU_CAP_S (seconds of timed CPU sampling, default 45),
 * BENCH_GPU_MODELS (default sd15-fp16:optimized,sd15-fp16-fused,sd15-fp16: model-builder names),
 * BENCH_GPU_CPU_MODELS (which of them also run on the CPU; default the first),
 * BENCH_GPU_CUDA_WITHOUT (default GroupNorm+SkipGroupNorm,BiasSplitGelu+BiasAdd: the first model on
 * CUDA again, optimized without those fusions, to show what each is worth),
 * BENCH_GPU_BUDGET_S (540: runs that would start later are skipped, so one device call holds it all),
 * BENCH_GPU_MODELS_DIR (default $TMPDIR/dts-bench-gpu; built models there are reused); a model name
 * ending in :optimized is that build loaded through dts-util's graph optimizer (a plain export fused at load),
 * BENCH_GPU_BLOCKS (the torch-exported blocks fusion-parity.ts checks; pack.sh puts them in the bundle),
 * BENCH_GPU_WEBGPU_SETTINGS (default nhwc,no-validation,simple-cache: WebGPU provider settings, each timed
 * alone on the first model against WebGPU's defaults; '' skips them),
 * OUT (a folder: results are also written there as gpu-bench.json).
 * Published reference: ORT CUDA on an H100 ≈ 87 it/s for SD 1.5 at 512² (fp16, FACTS.md).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ort from 'onnxruntime-node';

import { findCudaLibraries, systemLibrarySearch, withCudaLibraryPath } from '../../src/diffusion/cuda-libraries.js';
import { ldconfigListing } from '../../src/diffusion/ldconfig.js';
import type { WebGpuSettings } from '../../src/diffusion/onnx-session.js';
import type { DeviceResult } from './device-run.js';
import { cpuPlacedNodes } from './placement-log.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const devices = (process.env.BENCH_GPU_DEVICES ?? 'cuda,webgpu,cpu').split(',').filter(Boolean);
const steps = Number(process.env.BENCH_GPU_STEPS ?? 20);
const size = Number(process.env.BENCH_GPU_SIZE ?? 512);
const cpuCapSeconds = Number(process.env.BENCH_GPU_CPU_CAP_S ?? 45);
// The figure of record first (a plain export through the optimizer, as `serve` loads it), then ORT's fused build, then the plain export as it is.
const models = (process.env.BENCH_GPU_MODELS ?? 'sd15-fp16:optimized,sd15-fp16-fused,sd15-fp16').split(',').filter(Boolean);
/** The CPU's SD 1.5 figure is known (0.36 it/s on 16 vCPUs, bench/README.md): by default only the first model gets a CPU run. */
const cpuModels = (process.env.BENCH_GPU_CPU_MODELS ?? models[0] ?? '').split(',').filter(Boolean);
/** What each fusion is worth on CUDA: the first model again, optimized without these op types ('+' joins ops of one run). */
const cudaWithout = (process.env.BENCH_GPU_CUDA_WITHOUT ?? 'GroupNorm+SkipGroupNorm,BiasSplitGelu+BiasAdd').split(',').filter(Boolean);
/** A device call runs at most 600 s: runs that would start after this many seconds are skipped, and said to be. */
const budgetSeconds = Number(process.env.BENCH_GPU_BUDGET_S ?? 540);
const benchStart = performance.now();
const elapsedSeconds = () => (performance.now() - benchStart) / 1000;
/** A run starts only with this much of the budget left (SD 1.5's load and warm-up on a GPU take about a minute). */
const RUN_RESERVE_S = 60;

/** device-run.js's mode for a model's variant: ':optimized', ':optimized-without-GroupNorm+SkipGroupNorm', or none. */
function runMode(variant: string | undefined): string {
  if (variant === 'optimized') return 'optimize';
  if (variant?.startsWith('optimized-without-')) return `optimize-without=${variant.slice('optimized-without-'.length).replaceAll('+', ',')}`;
  return 'as-is';
}
const modelsDir = process.env.BENCH_GPU_MODELS_DIR ?? path.join(os.tmpdir(), 'dts-bench-gpu');
/** A device that hangs (a driver stuck in shader compilation, say) must not eat the whole lease. */
const DEVICE_TIMEOUT_MS = 180_000;
/** ONNX Runtime's published SD 1.5 figure on an H100 (fp16, 512², CUDA provider; FACTS.md): the target. */
const ORT_PUBLISHED_IT_S = 87;
/** CUDA 13 and cuDNN 9 as the server finds them (NVIDIA's wheels in a venv, a CUDA install): every child starts with them. */
const cudaLibraries = findCudaLibraries(systemLibrarySearch(ldconfigListing));
const childEnv = withCudaLibraryPath(process.env, cudaLibraries);

function sh(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).trim();
  } catch (error) {
    return `(${command} failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

/** Samples the GPU's used memory (MiB) while a device runs; nvidia-smi is the one view that sees every API's allocations. */
function gpuMemorySampler(): { stop(): number | undefined } {
  const samples: number[] = [];
  let child: ReturnType<typeof spawn> | undefined;
  try {
    child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '200'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => undefined);
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (/^\d+/.test(line.trim())) samples.push(Number(line.trim().split(/\s/)[0]));
    });
  } catch {
    child = undefined;
  }
  return {
    stop() {
      child?.kill();
      return samples.length > 0 ? Math.max(...samples) : undefined;
    },
  };
}

function baselineGpuMiB(): number | undefined {
  const out = sh('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits']);
  const value = Number(out.split('\n')[0]);
  return Number.isFinite(value) ? value : undefined;
}

/** WebGPU provider settings the issue asks to measure one by one (onnxruntime-common's WebGpuExecutionProviderOption). */
const WEBGPU_SETTINGS: Record<string, WebGpuSettings> = {
  nhwc: { preferredLayout: 'NHWC' },
  'no-validation': { validationMode: 'disabled' },
  'simple-cache': { storageBufferCacheMode: 'simple' },
};
const webgpuSettings = (process.env.BENCH_GPU_WEBGPU_SETTINGS ?? Object.keys(WEBGPU_SETTINGS).join(',')).split(',').filter(Boolean);

function runDevice(device: string, modelDir: string, mode: string, webgpu: WebGpuSettings = {}): Promise<DeviceResult> {
  const cap = device === 'cpu' ? cpuCapSeconds : DEVICE_TIMEOUT_MS / 1000;
  if (elapsedSeconds() + RUN_RESERVE_S > budgetSeconds) return Promise.resolve({ device, ok: false, reason: `skipped: ${elapsedSeconds().toFixed(0)} s of the ${budgetSeconds} s budget (BENCH_GPU_BUDGET_S) gone` });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'device-run.js'), device, modelDir, String(steps), String(size), String(cap), mode, JSON.stringify(webgpu)], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), DEVICE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').findLast((l) => l.startsWith('{'));
      if (line) return resolve(JSON.parse(line) as DeviceResult);
      const last = stderr.trim().split('\n').slice(-3).join(' | ');
      resolve({ device, ok: false, reason: signal ? `killed (${signal}) after ${DEVICE_TIMEOUT_MS / 1000} s` : `exited with code ${code}: ${last}` });
    });
  });
}

function buildModel(name: string): string {
  const modelDir = path.join(modelsDir, name);
  if (fs.existsSync(path.join(modelDir, 'unet', 'model.onnx'))) {
    console.log(`${name}: reusing ${modelDir}`);
    return modelDir;
  }
  const started = performance.now();
  execFileSync(process.execPath, [path.join(here, '..', '..', 'tools', 'model-builder', 'cli.js'), name, modelDir, '--seed', '5'], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(`${name}: built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return modelDir;
}

/** Where pack.sh's bundle keeps what is not compiled code: the exported blocks and tools/torch-export's scripts. */
const bundleRoot = path.join(here, '..', '..', '..');
/** tools/torch-export's scripts: in the bundle, or in the checkout when the bench runs from one. */
const torchExportScripts = fs.existsSync(path.join(bundleRoot, 'torch-export')) ? path.join(bundleRoot, 'torch-export') : path.join(bundleRoot, 'tools', 'torch-export');

/** ONNX Runtime's own optimizer (the anchor) and fusion-parity.ts on one folder of exported blocks. */
function checkFusions(blocks: string, label: string, gpuDevices: string[]): void {
  if (!fs.existsSync(path.join(blocks, 'manifest.json'))) return console.log(`fusion parity (${label}): no exported blocks at ${blocks}`);
  console.log(`fusion parity on blocks exported by ${label}:`);
  const anchor = spawnSync('python3', [path.join(torchExportScripts, 'ort_fusion_anchor.py'), blocks], { encoding: 'utf8', timeout: DEVICE_TIMEOUT_MS });
  if (anchor.stdout) fs.writeFileSync(path.join(blocks, 'ort-anchor.jsonl'), anchor.stdout);
  if (!anchor.stdout?.includes('"block"')) console.log(`ort anchor: not run (${(anchor.stdout || anchor.stderr || anchor.error?.message || '').trim().split('\n').at(-1)})`);
  try {
    const out = execFileSync(process.execPath, [path.join(here, 'fusion-parity.js'), blocks, gpuDevices.join(',')], { encoding: 'utf8', env: childEnv, timeout: DEVICE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const line of out.split('\n').filter((l) => l.startsWith('fusion parity'))) console.log(line);
  } catch (error) {
    console.log(`fusion parity: failed: ${(error as Error).message.split('\n')[0]}`);
  }
}

const fmt = (value: number | undefined, digits = 1) => (value === undefined ? '-' : value.toFixed(digits));

console.log(`gpu bench: ${size}×${size} × ${steps} steps, Euler, CFG 7.5 (UNet batch 2), devices ${devices.join(', ')}`);
console.log(`host: ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; onnxruntime-node backends: ${ort.listSupportedBackends().map((b) => `${b.name}${b.bundled ? '' : ' (not bundled)'}`).join(', ')}`);
console.log(`gpu: ${sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'])}`);
console.log(`vulkan loader: ${sh('sh', ['-c', 'ldconfig -p | grep -m1 libvulkan.so.1 || echo none'])}`);
console.log(`cuda libraries: ${[...cudaLibraries.found].map(([file, where]) => `${file} ${where}`).join(', ') || 'none'}${cudaLibraries.missing.length ? `; missing ${cudaLibraries.missing.map((l) => l.file).join(', ')}` : ''}`);
// Correctness before speed: tiny pipelines on each GPU device against the CPU, pixel by pixel.
const gpuDevices = devices.filter((d) => d !== 'cpu');
if (gpuDevices.length > 0 && process.env.BENCH_GPU_PARITY !== '0') {
  const started = performance.now();
  try {
    const out = execFileSync(process.execPath, [path.join(here, 'parity.js'), path.join(modelsDir, 'parity'), gpuDevices.join(',')], { encoding: 'utf8', env: childEnv, timeout: DEVICE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const line of out.split('\n').filter((l) => l.startsWith('parity '))) console.log(line);
  } catch (error) {
    console.log(`parity: failed: ${(error as Error).message.split('\n')[0]}`);
  }
  console.log(`parity: ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
const results: (DeviceResult & { model: string; gpuPeakMiB?: number })[] = [];

async function runModel(model: string, onDevices: string[]): Promise<void> {
  const [build, variant] = model.split(':');
  const modelDir = buildModel(build!);
  for (const device of onDevices) {
    const base = baselineGpuMiB();
    const sampler = gpuMemorySampler();
    const started = performance.now();
    const result = await runDevice(device, modelDir, runMode(variant));
    const peak = sampler.stop();
    const gpuPeakMiB = device !== 'cpu' && peak !== undefined && base !== undefined ? peak - base : undefined;
    results.push({ ...result, model, gpuPeakMiB });
    const wall = ((performance.now() - started) / 1000).toFixed(0);
    if (!result.ok) console.log(`${model} on ${device}: not measured — ${result.reason} (${wall} s)`);
    else {
      const stepsNote = result.capped ? ` (${result.stepsDone}/${steps} steps within the ${cpuCapSeconds} s cap)` : '';
      const versusPublished = device === 'cuda' && result.itPerSec !== undefined ? ` = ${(result.itPerSec / ORT_PUBLISHED_IT_S).toFixed(2)}× ORT's published ${ORT_PUBLISHED_IT_S} it/s` : '';
      const firstRun = ((result.loadMs ?? 0) + (result.warmupMs ?? 0)) / 1000;
      console.log(
        `${model} on ${device}: ${fmt(result.itPerSec, 2)} it/s${versusPublished}${stepsNote}; first run ${fmt(firstRun)} s (load ${fmt((result.loadMs ?? 0) / 1000)} s, warm-up ${fmt((result.warmupMs ?? 0) / 1000)} s), decode ${fmt(result.decodeMs, 0)} ms; peak RSS ${result.maxRssMiB} MiB${gpuPeakMiB !== undefined ? `, GPU memory +${gpuPeakMiB} MiB` : ''}${result.fused ? `; ${result.fused}` : ''} (${wall} s)`,
      );
    }
  }
}

for (const model of models) await runModel(model, devices.filter((d) => d !== 'cpu' || cpuModels.includes(model)));
// The graph optimizer's fusions on the real kernels, block by block: the blocks pack.sh exported
// with Debian's torch 1.13, then the same blocks exported here by this machine's torch 2.x (its
// own lowering, scaled-dot-product attention among it), when its python3 has one.
if (gpuDevices.length > 0 && process.env.BENCH_GPU_PARITY !== '0' && elapsedSeconds() + RUN_RESERVE_S <= budgetSeconds) {
  checkFusions(process.env.BENCH_GPU_BLOCKS ?? path.join(bundleRoot, 'blocks'), 'torch 1.13 (pack.sh)', gpuDevices);
  const torch2 = path.join(modelsDir, 'blocks-torch2');
  const exported = spawnSync('python3', [path.join(torchExportScripts, 'attention_blocks.py'), torch2], { encoding: 'utf8', timeout: DEVICE_TIMEOUT_MS });
  if (exported.status === 0) checkFusions(torch2, `torch ${sh('python3', ['-c', 'import torch; print(torch.__version__)'])} (this machine)`, gpuDevices);
  else console.log(`fusion parity on this machine's torch: not exported (${(exported.stderr || exported.error?.message || '').trim().split('\n').at(-1)})`);
}
// What each CUDA fusion is worth: the first model again without it.
const [firstBuild] = (models[0] ?? '').split(':');
if (devices.includes('cuda') && firstBuild) for (const ops of cudaWithout) await runModel(`${firstBuild}:optimized-without-${ops}`, ['cuda']);
// Each WebGPU setting alone, on the first model (the optimized export by default), against WebGPU's defaults measured above.
const settingsModel = models[0];
const webgpuBase = results.find((r) => r.model === settingsModel && r.device === 'webgpu' && r.ok);
if (settingsModel && webgpuBase?.itPerSec && devices.includes('webgpu')) {
  const [build, variant] = settingsModel.split(':');
  const modelDir = buildModel(build!);
  for (const name of webgpuSettings) {
    const settings = WEBGPU_SETTINGS[name];
    if (!settings) {
      console.log(`webgpu setting ${name}: unknown; known: ${Object.keys(WEBGPU_SETTINGS).join(', ')}`);
      continue;
    }
    const result = await runDevice('webgpu', modelDir, runMode(variant), settings);
    results.push({ ...result, model: `${settingsModel} webgpu ${name}` });
    console.log(result.ok && result.itPerSec ? `${settingsModel} on webgpu with ${JSON.stringify(settings)}: ${fmt(result.itPerSec, 2)} it/s = ${(result.itPerSec / webgpuBase.itPerSec).toFixed(2)}× WebGPU's defaults` : `${settingsModel} on webgpu with ${JSON.stringify(settings)}: not measured — ${result.reason}`);
  }
  // Which nodes ONNX Runtime put on the CPU beside WebGPU (its verbose placement log): each is a host round trip per run.
  const unet = path.join(modelDir, 'unet', variant === 'optimized' ? '.model.dts-util-webgpu.onnx' : 'model.onnx');
  if (fs.existsSync(unet) && elapsedSeconds() + RUN_RESERVE_S <= budgetSeconds) {
    const log = spawnSync(process.execPath, [path.join(here, 'placement.js'), 'webgpu', unet], { encoding: 'utf8', env: childEnv, timeout: DEVICE_TIMEOUT_MS });
    const onCpu = cpuPlacedNodes(log.stderr ?? '');
    console.log(`webgpu placement of ${path.basename(unet)}: ${onCpu === undefined ? `no placement log (${(log.stdout ?? '').trim() || log.error?.message || 'no output'})` : onCpu.size === 0 ? 'every node on WebGPU' : `on the CPU: ${[...onCpu].map(([op, n]) => `${n} ${op}`).join(', ')}`}`);
  }
}
console.log(`reference: ORT CUDA on an H100 ≈ ${ORT_PUBLISHED_IT_S} it/s for SD 1.5 at 512² (fp16; FACTS.md)`);
if (process.env.OUT) fs.writeFileSync(path.join(process.env.OUT, 'gpu-bench.json'), JSON.stringify({ size, steps, results }, null, 2));
