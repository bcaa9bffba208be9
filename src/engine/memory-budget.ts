import { execFileSync } from 'node:child_process';
import os from 'node:os';

import { parseMemoryBudget } from '../config/settings.js';
import { formatBytes } from '../util/format-bytes.js';

export interface MemoryBudget {
  bytes: number;
  /** How it was reached, for the start-up log: "80% of GPU 0's memory (139.8 GiB)", "12GiB". */
  basis: string;
}

/** Total memory of NVIDIA GPU `gpu` from the driver's nvidia-smi (MiB), or undefined where there is none. */
export function nvidiaGpuMemoryBytes(gpu: number): number | undefined {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', String(gpu)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    const mib = Number(out.trim().split('\n')[0]);
    return Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The budget in bytes. A size is taken as it is. A percentage is a share of the memory the models
 * will live in: the GPU's when generation runs on CUDA (ONNX Runtime puts the weights there), else
 * RAM, also for WebGPU, whose memory the server cannot read (set a size there).
 * `device` is the engine's device preference ("cuda,cpu" or "auto"): its first entry decides.
 */
export function resolveMemoryBudget(spec: string, device: string, gpu: number, gpuMemory: (gpu: number) => number | undefined = nvidiaGpuMemoryBytes): MemoryBudget {
  if (!spec.trim().endsWith('%')) return { bytes: parseMemoryBudget(spec, 'the memory budget'), basis: spec };
  const vram = device.split(',')[0] === 'cuda' ? gpuMemory(gpu) : undefined;
  const total = vram ?? os.totalmem();
  const bytes = parseMemoryBudget(spec, 'the memory budget', total);
  return { bytes, basis: `${spec.trim()} of ${vram ? `GPU ${gpu}'s memory` : 'RAM'} (${formatBytes(total)})` };
}
