import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The devices generation can run on, fastest first: the order `auto` tries them in. */
export const DEVICE_ORDER = ['cuda', 'webgpu', 'cpu'] as const;
export type DeviceName = (typeof DEVICE_ORDER)[number];

/** onnxruntime-node's bin folder, where its install script puts the CUDA provider it downloads. */
export function onnxRuntimeBinDir(): string {
  // …/onnxruntime-node/dist/index.js → …/onnxruntime-node/bin
  return path.resolve(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
}

/** Whether onnxruntime-node has its CUDA provider library (downloaded at install time, not bundled). */
export function cudaProviderInstalled(bin = onnxRuntimeBinDir()): boolean {
  try {
    return fs.readdirSync(bin, { recursive: true }).some((f) => String(f).endsWith('libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/**
 * Execution providers a model load tries, in order. The server passes the order it settled on at
 * start-up (after probing, see device-probe.ts) as a comma list, e.g. "cuda,cpu". A bare name is
 * for callers that did not probe (benchmarks): that device, then the CPU; 'auto' there means CUDA
 * when its provider is installed, else the CPU.
 */
export function devicePreference(device: string): string[] {
  if (device.includes(',')) return device.split(',').map((d) => d.trim()).filter(Boolean);
  if (device === 'cpu') return ['cpu'];
  if (device === 'cuda' || device === 'webgpu') return [device, 'cpu'];
  return cudaProviderInstalled() ? ['cuda', 'cpu'] : ['cpu'];
}

/**
 * The useful part of an ONNX Runtime error: its first line, without the source location and
 * C++ signature ORT puts in front ("/onnxruntime_src/…cc:136 …<lambda()> cond was false. Why").
 */
export function deviceError(error: unknown): string {
  const line = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
  const why = / was false\. (.+)$/.exec(line)?.[1] ?? line.replace(/^\/onnxruntime_src\/\S+:\d+ /, '');
  return why.length > 300 ? `${why.slice(0, 300)}…` : why;
}
