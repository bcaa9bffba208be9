import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ort from 'onnxruntime-node';

import { UsageError } from '../config/errors.js';
import { ldconfigListing, libraryInListing } from './ldconfig.js';
import { CUDA_INSTALL_HINT, findCudaLibraries, systemLibrarySearch, withCudaLibraryPath, type CudaLibraries } from './cuda-libraries.js';
import { cudaProviderInstalled, DEVICE_ORDER, deviceError, type DeviceName } from './device.js';

/** What the server found out about one device at start-up. */
export interface DeviceFound {
  name: DeviceName;
  usable: boolean;
  /** What it is when usable (the GPU's name), else why it is not, with what to do. */
  detail: string;
  /** CUDA: folders the processes that open it need on LD_LIBRARY_PATH (NVIDIA's pip wheels, a CUDA install). */
  libraryDirs?: string[];
}

/** The device generation uses, why, and what a model load falls back to. */
export interface DeviceSelection {
  /** As configured: auto, cpu, cuda or webgpu. */
  requested: string;
  chosen: DeviceName;
  reason: string;
  /** What a model load tries, in order (the worker's preference list). */
  order: DeviceName[];
  devices: DeviceFound[];
  /** Folders the generation worker's loader needs (CUDA's libraries found outside its own path). */
  libraryDirs: string[];
}

/** The machine as the probe sees it; tests stand in for a GPU machine with their own. */
export interface ProbeHost {
  platform: NodeJS.Platform;
  /** Execution providers this onnxruntime-node build knows. */
  backends(): string[];
  cudaProviderInstalled(): boolean;
  /** Names of the NVIDIA GPUs the driver shows (empty without driver or GPU). */
  nvidiaGpus(): string[];
  /** Where the dynamic loader would find a library, or undefined. */
  findLibrary(name: string): string | undefined;
  /** The CUDA provider's libraries: where each is, which are missing (cuda-libraries.ts). */
  cudaLibraries(): CudaLibraries;
  /** The Vulkan drivers (ICD manifests) installed, by file name. */
  vulkanDrivers(): string[];
  /** Runs a one-node model on the device, with these folders on the loader's path: undefined when that worked, else why not. */
  trySession(device: string, gpu: number, libraryDirs?: string[]): Promise<string | undefined>;
  cpuName(): string;
}

/** A CUDA context on a big GPU takes seconds to create; a driver that needs this long is stuck. */
const PROBE_TIMEOUT_MS = 30_000;
/** Where the Vulkan loader looks for drivers' manifests (the NVIDIA driver puts nvidia_icd.json here). */
const VULKAN_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64', '/usr/local/lib', '/usr/local/cuda/lib64'];

/** NVIDIA's driver lists one folder per GPU, each with an `information` file naming its model. */
function nvidiaGpus(root = '/proc/driver/nvidia/gpus'): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(root).sort();
  } catch {
    // No driver proc entries (a container may hide them): device nodes still say a GPU is there.
    return fs.existsSync('/dev/nvidia0') ? ['NVIDIA GPU (name not readable)'] : [];
  }
  return entries.map((bus) => {
    try {
      const info = fs.readFileSync(path.join(root, bus, 'information'), 'utf8');
      return /^Model:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? `NVIDIA GPU at ${bus}`;
    } catch {
      return `NVIDIA GPU at ${bus}`;
    }
  });
}

function findLibrary(name: string): string | undefined {
  const fromCache = libraryInListing(ldconfigListing(), name);
  if (fromCache) return fromCache;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIBRARY_DIRS];
  return dirs.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file));
}

/**
 * Runs a probe script (device-probe-child.js) in its own process, so a hung or crashing driver
 * cannot take the server with it: undefined when it answered ok, else why not.
 */
export function runProbeChild(script: string, args: string[], timeoutMs = PROBE_TIMEOUT_MS, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', env }, (error, stdout, stderr) => {
      const answer = stdout.split('\n').find((line) => line.startsWith('{'));
      if (answer) {
        const { ok, error: why } = JSON.parse(answer) as { ok: boolean; error?: string };
        return resolve(ok ? undefined : `a test model failed: ${deviceError(why)}`);
      }
      if (error?.killed) return resolve(`a test model did not finish within ${timeoutMs / 1000} s (a hung driver?)`);
      // What the process said first is usually the cause; what follows is a native stack trace.
      const first = stderr.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n')[0]?.trim().slice(0, 300) ?? '';
      resolve(`a test model crashed (${error?.signal ?? `exit status ${error?.code}`})${first ? `: ${first}` : ''}`);
    });
  });
}

const PROBE_SCRIPT = fileURLToPath(new URL('./device-probe-child.js', import.meta.url));

export const systemProbeHost: ProbeHost = {
  platform: process.platform,
  backends: () => ort.listSupportedBackends().map((b) => b.name),
  cudaProviderInstalled: () => cudaProviderInstalled(),
  nvidiaGpus: () => nvidiaGpus(),
  findLibrary,
  cudaLibraries: () => findCudaLibraries(systemLibrarySearch(ldconfigListing)),
  vulkanDrivers: () => [
    // Drivers named by the loader's variables (containers often mount the NVIDIA one elsewhere).
    ...[process.env.VK_DRIVER_FILES, process.env.VK_ICD_FILENAMES].flatMap((files) => (files ?? '').split(':').filter((f) => f && fs.existsSync(f))),
    ...VULKAN_ICD_DIRS.flatMap((dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [])),
  ],
  trySession: (device, gpu, libraryDirs = []) => runProbeChild(PROBE_SCRIPT, [device, String(gpu)], PROBE_TIMEOUT_MS, withCudaLibraryPath(process.env, { dirs: libraryDirs })),
  cpuName: () => `${os.cpus()[0]?.model.trim() ?? os.arch()}, ${os.availableParallelism()} threads`,
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** CUDA: a GPU the driver shows, the provider library, CUDA 13's libraries, then a model that really runs on it. */
async function probeCuda(host: ProbeHost, gpu: number): Promise<DeviceFound> {
  const unusable = (detail: string): DeviceFound => ({ name: 'cuda', usable: false, detail });
  if (host.platform !== 'linux') return unusable(`onnxruntime-node has no CUDA provider for ${host.platform}`);
  const gpus = host.nvidiaGpus();
  // Without a GPU nothing else matters: the line says that alone.
  if (gpus.length === 0) return unusable('no NVIDIA GPU visible (no /proc/driver/nvidia/gpus, no /dev/nvidia0)');
  const name = gpus[gpu] ?? gpus[0]!;
  const problems: string[] = [];
  if (gpu >= gpus.length && !process.env.CUDA_VISIBLE_DEVICES) problems.push(`GPU ${gpu} asked for (--gpu), but ${plural(gpus.length, 'NVIDIA GPU')} visible`);
  if (!host.cudaProviderInstalled()) problems.push('the CUDA provider of onnxruntime-node is not installed: `npm run cuda-provider` fetches it from the npm registry (README "Devices")');
  const libraries = host.cudaLibraries();
  if (libraries.missing.length > 0) problems.push(`CUDA libraries missing: ${libraries.missing.map((l) => `${l.file} (${l.what})`).join(', ')}; ${CUDA_INSTALL_HINT}`);
  if (problems.length > 0) return unusable(`${name} found, but ${problems.join('; ')}`);
  const failed = await host.trySession('cuda', gpu, libraries.dirs);
  if (failed !== undefined) return unusable(`${name} found, but ${failed}`);
  const where = libraries.dirs.length > 0 ? `; CUDA libraries from ${libraries.dirs.join(', ')}` : '';
  return { name: 'cuda', usable: true, detail: `${name} (GPU ${gpu} of ${gpus.length})${where}`, libraryDirs: libraries.dirs };
}

/** WebGPU: in this build, a Vulkan loader on Linux (Dawn's only backend there), then a model that runs. */
async function probeWebgpu(host: ProbeHost): Promise<DeviceFound> {
  if (!host.backends().includes('webgpu')) return { name: 'webgpu', usable: false, detail: 'this onnxruntime-node build has no WebGPU provider' };
  let loader = '';
  if (host.platform === 'linux') {
    const found = host.findLibrary('libvulkan.so.1');
    if (!found) return { name: 'webgpu', usable: false, detail: "no Vulkan loader (libvulkan.so.1): install libvulkan1 and your GPU vendor's Vulkan driver" };
    loader = `Vulkan loader ${found}`;
  }
  const failed = await host.trySession('webgpu', 0);
  if (failed !== undefined) {
    // The usual cause on Linux: a loader with no GPU driver behind it (a machine without a GPU, or a container without the vendor's ICD).
    const hint = loader && host.vulkanDrivers().length === 0 ? ` (no Vulkan driver installed: ${VULKAN_ICD_DIRS.join(', ')} list none; install your GPU vendor's Vulkan driver)` : '';
    return { name: 'webgpu', usable: false, detail: `${loader ? `${loader} found, but ` : ''}${failed}${hint}` };
  }
  return { name: 'webgpu', usable: true, detail: loader ? `a test model ran (${loader})` : 'a test model ran' };
}

/** Every device, cheap checks first; a real test model runs only on a GPU that passed them. */
export async function probeDevices(gpu: number, host: ProbeHost = systemProbeHost): Promise<DeviceFound[]> {
  const [cuda, webgpu] = await Promise.all([probeCuda(host, gpu), probeWebgpu(host)]);
  return [cuda, webgpu, { name: 'cpu', usable: true, detail: host.cpuName() }];
}

const systemProbes = new Map<number, Promise<DeviceFound[]>>();

/** The machine's devices, probed once per process and GPU index (test servers start often). */
function probeSystem(gpu: number): Promise<DeviceFound[]> {
  let probe = systemProbes.get(gpu);
  if (!probe) systemProbes.set(gpu, (probe = probeDevices(gpu)));
  return probe;
}

const why = (device: DeviceFound) => `${device.name}: ${device.detail}`;

/**
 * The device to run on. `auto` takes the first usable one in the order cuda, webgpu, cpu. A
 * named device that is not usable falls back the same way with the reason said, unless
 * `fallback` is false (serve --no-device-fallback): then it is a start-up error, so a server
 * that must use its GPU never runs slowly on the CPU unnoticed. `order` is what a model load
 * tries: with fallback on it keeps the usable devices after the chosen one, so a session that
 * fails to open or fails its first run moves on (onnx-session.ts).
 */
export function chooseDevice(requested: string, devices: DeviceFound[], fallback: boolean): DeviceSelection {
  const usable = DEVICE_ORDER.filter((name) => devices.find((d) => d.name === name)?.usable);
  const unusable = devices.filter((d) => !d.usable);
  const libraryDirs = devices.find((d) => d.name === 'cuda')?.libraryDirs ?? [];
  const select = (chosen: DeviceName, reason: string, order: DeviceName[]): DeviceSelection => ({ requested, chosen, reason, order: fallback ? order : [chosen], devices, libraryDirs });
  if (requested === 'cpu') return select('cpu', 'cpu as configured', ['cpu']);
  if (requested === 'auto') {
    const chosen = usable[0] ?? 'cpu';
    const skipped = unusable.filter((d) => DEVICE_ORDER.indexOf(d.name) < DEVICE_ORDER.indexOf(chosen));
    const reason = chosen === 'cpu' ? `auto: no GPU is usable (${skipped.map(why).join('; ')})` : `auto: ${chosen} is the first usable device of ${DEVICE_ORDER.join(', ')}${skipped.length ? ` (${skipped.map(why).join('; ')})` : ''}`;
    return select(chosen, reason, usable);
  }
  const asked = devices.find((d) => d.name === requested);
  if (!asked) throw new UsageError(`unknown device ${JSON.stringify(requested)}`, `use one of auto, ${DEVICE_ORDER.join(', ')}`);
  const others = usable.filter((name) => name !== requested);
  if (asked.usable) return select(asked.name, `${asked.name} as configured`, [asked.name, ...others]);
  if (!fallback) {
    throw new UsageError(
      `device ${requested} was asked for with device fallback off (--no-device-fallback), but it is not usable here: ${asked.detail}`,
      `fix that (README "Devices"), or use --device auto, or drop --no-device-fallback to run on ${others[0] ?? 'cpu'} instead`,
    );
  }
  // The named device is still tried first at each model load: the probe is a test model, a
  // real session has the last word, and its error then shows in the generation's device_fallbacks.
  const chosen = others[0] ?? 'cpu';
  return { requested, chosen, reason: `${requested} was asked for but is not usable (${asked.detail}); falling back to ${chosen} (--no-device-fallback makes this an error)`, order: [asked.name, ...others], devices, libraryDirs };
}

/** Probes this machine (once per process) and chooses; see chooseDevice. */
export async function selectDevice(options: { requested: string; gpu: number; fallback: boolean }, host?: ProbeHost): Promise<DeviceSelection> {
  const devices = host ? await probeDevices(options.gpu, host) : await probeSystem(options.gpu);
  return chooseDevice(options.requested, devices, options.fallback);
}

/** One line per device, as Echo and the start-up log give them: "cuda: not usable: …". */
export function describeDevices(selection: DeviceSelection): string[] {
  return selection.devices.map((d) => `${d.name}: ${d.usable ? 'usable' : 'not usable'}: ${d.detail}`);
}
