import fs from 'node:fs';
import path from 'node:path';

import { optimizedPart } from '../diffusion/optimized-graphs.js';
import { findModel } from './installed.js';

/** The ONNX parts generation loads, in the order it loads them. */
const ONNX_PARTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder'];

export interface OptimizedPartReport {
  part: string;
  source: string;
  /** The file a load on this device opens: the optimized graph, or the source when nothing was fused. */
  optimized: string;
  fused: Record<string, number>;
  /** Made by an earlier load or run of this command (and still valid). */
  cached: boolean;
  /** Why the part was left as it is, when the optimizer could not work on it. */
  skipped?: string;
}

export interface OptimizeReport {
  model: string;
  device: string;
  parts: OptimizedPartReport[];
}

/**
 * What a server's first load of the model on `device` does, ahead of time: each part optimized
 * for that device and cached beside it (optimized-graphs.ts), so the first request does not wait.
 */
export function optimizeInstalledModel(modelsDir: string, name: string, device: string): OptimizeReport {
  const model = findModel(modelsDir, name);
  const parts: OptimizedPartReport[] = [];
  for (const part of ONNX_PARTS) {
    const source = path.join(model.dir, part, 'model.onnx');
    if (!fs.existsSync(source)) continue;
    const result = optimizedPart(source, device);
    parts.push({ part, source, optimized: result.file, fused: result.fused, cached: result.cached, ...(result.skipped ? { skipped: result.skipped } : {}) });
  }
  return { model: model.name, device, parts };
}
