import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { GenerationParams } from './request.js';

/** The parts of unet/config.json (diffusers) that decide peak memory; SD 1.5's values by default. */
interface UNetShape {
  heads: number;
  attentionAtFullResolution: boolean;
}

function unetShape(modelDir: string): UNetShape {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'unet', 'config.json'), 'utf8')) as { attention_head_dim?: number | number[]; down_block_types?: string[] };
    const heads = Array.isArray(config.attention_head_dim) ? config.attention_head_dim[0] : config.attention_head_dim;
    return { heads: heads ?? 8, attentionAtFullResolution: config.down_block_types?.[0]?.startsWith('CrossAttn') ?? true };
  } catch {
    return { heads: 8, attentionAtFullResolution: true };
  }
}

/**
 * Peak working memory of one UNet call, dominated by self-attention at the first level: one
 * tokens×tokens float32 matrix per head and batch item, batch doubled by classifier-free guidance.
 * The hires fix runs at twice the size. The VAE decodes one image at a time and is far smaller.
 */
export function estimatePeakBytes(params: GenerationParams, modelDir: string): number {
  const { heads, attentionAtFullResolution } = unetShape(modelDir);
  const scale = params.enableHr ? 2 : 1;
  const tokens = ((params.width * scale) / 8) * ((params.height * scale) / 8) / (attentionAtFullResolution ? 1 : 4);
  const batch = params.batchSize * (params.cfgScale > 1 ? 2 : 1);
  return batch * heads * tokens * tokens * 4;
}

/** Refuses what cannot fit: the estimate against this machine's memory (all of it; models share it). */
export function fitsInMemory(params: GenerationParams, modelDir: string): { fits: boolean; neededGiB: number; totalGiB: number } {
  const needed = estimatePeakBytes(params, modelDir);
  const total = os.totalmem();
  return { fits: needed < total * 0.8, neededGiB: needed / 2 ** 30, totalGiB: total / 2 ** 30 };
}
