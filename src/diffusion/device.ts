import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Whether onnxruntime-node has its CUDA provider library (it is downloaded at install time, not bundled). */
function cudaProviderInstalled(): boolean {
  // …/onnxruntime-node/dist/index.js → …/onnxruntime-node/bin, where the install script puts it.
  const bin = path.resolve(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
  try {
    return fs.readdirSync(bin, { recursive: true }).some((f) => String(f).endsWith('libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/**
 * Execution providers to try, in order, for a device preference. 'auto' means CUDA when its
 * provider is installed, else CPU; WebGPU only when asked for (it needs a real GPU driver).
 */
export function devicePreference(device: string): string[] {
  if (device === 'cpu') return ['cpu'];
  if (device === 'cuda' || device === 'webgpu') return [device, 'cpu'];
  return cudaProviderInstalled() ? ['cuda', 'cpu'] : ['cpu'];
}

/** One line for the start-up log: which device generation will use, or why it falls back to CPU. */
export function describeDevice(device: string): string {
  const order = devicePreference(device);
  if (order[0] === 'cpu') {
    return device === 'cpu' ? 'cpu (as configured)' : 'cpu (the CUDA provider of onnxruntime-node is not installed; see README "GPU (CUDA)")';
  }
  return `${order[0]}, falling back to cpu if it cannot start (the first generation logs why)`;
}
