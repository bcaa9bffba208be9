import fs from 'node:fs';
import path from 'node:path';

import { formatBytes } from '../util/format-bytes.js';
import type { GenerationParams } from './request.js';

/** The parts of unet/config.json (diffusers) that decide peak memory; SD 1.5's values by default. */
interface UNetShape {
  heads: number;
  /** How many times the first level with attention is downsampled (0 = full latent resolution). */
  attentionLevel: number;
}

function unetShape(modelDir: string): UNetShape {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'unet', 'config.json'), 'utf8')) as { attention_head_dim?: number | number[]; down_block_types?: string[] };
    const found = config.down_block_types?.findIndex((type) => type.startsWith('CrossAttn')) ?? 0;
    const level = Math.max(0, found);
    const heads = Array.isArray(config.attention_head_dim) ? (config.attention_head_dim[level] ?? config.attention_head_dim[0]) : config.attention_head_dim;
    return { heads: heads ?? 8, attentionLevel: level };
  } catch {
    return { heads: 8, attentionLevel: 0 };
  }
}

/**
 * Peak working memory of one UNet call, dominated by self-attention at the first level that has
 * it: one tokens×tokens float32 matrix per head and batch item, batch doubled by classifier-free
 * guidance. The hires fix runs at twice the size. The VAE decodes one image at a time and is far smaller.
 */
export function estimatePeakBytes(params: GenerationParams, modelDir: string): number {
  const { heads, attentionLevel } = unetShape(modelDir);
  const scale = params.enableHr ? 2 : 1;
  const tokens = ((params.width * scale) / 8) * ((params.height * scale) / 8) / 4 ** attentionLevel;
  const batch = params.batchSize * (params.cfgScale > 1 ? 2 : 1);
  return batch * heads * tokens * tokens * 4;
}

/**
 * The parts of a pipeline that the engine may load into ONNX Runtime sessions. Other folders
 * (tokenizer, scheduler, and the safety_checker / feature_extractor some exports ship) are never
 * loaded, so they cost no memory.
 */
const SESSION_PARTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder'];

/**
 * What a loaded model keeps resident: ONNX Runtime holds every weight in memory, so the size on
 * disk of each part's files (model.onnx plus external data such as model.onnx_data, whatever its
 * name) less the small JSON configs. Missing parts count zero.
 */
export function modelResidentBytes(modelDir: string): number {
  let total = 0;
  for (const part of SESSION_PARTS) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(modelDir, part), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      // Hidden files are the graph optimizer's caches (optimized-graphs.ts): loaded instead of the part, not beside it.
      if (entry.name.endsWith('.json') || entry.name.startsWith('.')) continue;
      try {
        const stat = fs.statSync(path.join(modelDir, part, entry.name)); // follows links, as ORT does
        if (stat.isFile()) total += stat.size;
      } catch {
        // A dangling link loads nothing.
      }
    }
  }
  return total;
}

export const MEMORY_BUDGET_SETTING = '--memory-budget (DTS_UTIL_MEMORY_BUDGET, memoryBudget in config.json)';

/**
 * Why a request cannot run within the budget, or undefined when it fits: a model whose weights
 * alone exceed it, or weights plus the request's working memory.
 */
export function budgetRefusal(modelName: string, modelBytes: number, workingBytes: number, budgetBytes: number): string | undefined {
  if (modelBytes > budgetBytes) {
    return `model ${modelName} needs ${formatBytes(modelBytes)} for its weights, more than the memory budget of ${formatBytes(budgetBytes)}: raise ${MEMORY_BUDGET_SETTING} or use a smaller model (fp16 halves it)`;
  }
  if (modelBytes + workingBytes > budgetBytes) {
    return `this request needs about ${formatBytes(workingBytes)} of working memory (attention) on top of ${formatBytes(modelBytes)} for model ${modelName}'s weights, more than the memory budget of ${formatBytes(budgetBytes)}: lower width/height or batch_size, or raise ${MEMORY_BUDGET_SETTING}`;
  }
  return undefined;
}
