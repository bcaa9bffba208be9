import fs from 'node:fs';
import path from 'node:path';

import type { ModelInfo } from '../generated/image_generation.js';
import { defaultModelName, listModels, missingFiles, modelProblem } from './model-catalog.js';
import { hasVaeEncoder, inspectModelFolder } from './model-spec.js';

const PARTS = ['unet', 'text_encoder', 'text_encoder_2', 'vae_decoder', 'vae_encoder', 'tokenizer', 'scheduler'];

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Bytes of the model's own files under a folder (not the hidden caches the graph optimizer keeps beside them); links inside it are not followed. */
export function sizeOnDisk(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && !entry.name.startsWith('.')) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** The family when the folder is usable; else the base family its files show (an SDXL folder missing a part), else unknown. */
function family(dir: string): string {
  const inspection = inspectModelFolder(dir);
  return inspection.spec?.family ?? inspection.base ?? 'unknown';
}

/** What ListModels answers: every model folder, what it is made of, and which is the default. */
export function modelInventory(modelsDir: string, defaultModel: string | undefined): ModelInfo[] {
  const chosen = defaultModelName(modelsDir, defaultModel);
  return listModels(modelsDir).map((model) => {
    // vae_encoder only with its model: a folder of just config.json cannot run img2img.
    const parts = PARTS.filter((part) => (part === 'vae_encoder' ? hasVaeEncoder(model.dir) : fs.existsSync(path.join(model.dir, part))));
    const missing = missingFiles(model.dir);
    const problem = modelProblem(model.dir);
    const prediction = readJson(path.join(model.dir, 'scheduler', 'scheduler_config.json')).prediction_type;
    return {
      name: model.name,
      family: family(model.dir),
      sizeBytes: sizeOnDisk(model.dir),
      parts,
      complete: missing.length === 0,
      missing,
      isDefault: model.name === chosen,
      builtin: model.builtin,
      predictionType: prediction === 'v_prediction' ? 'v_prediction' : 'epsilon',
      loadable: problem === undefined,
      problem: problem ?? '',
      inpainting: inspectModelFolder(model.dir).spec?.inpainting === true,
    };
  });
}
