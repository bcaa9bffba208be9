import fs from 'node:fs';
import path from 'node:path';

import { buildPipeline, TINY_SD15, TINY_SD2_V } from '../../tools/model-builder/pipeline.js';

/** Builds the tiny SD 1.x-style and SD 2.x v-prediction pipelines into a models directory. */
export async function installTinyModels(modelsDir: string, names: { sd15?: string; sd2v?: string } = { sd15: 'tiny-sd15', sd2v: 'tiny-sd2-v' }): Promise<void> {
  fs.mkdirSync(modelsDir, { recursive: true });
  if (names.sd15) await buildPipeline(path.join(modelsDir, names.sd15), TINY_SD15, { seed: 1 });
  if (names.sd2v) await buildPipeline(path.join(modelsDir, names.sd2v), TINY_SD2_V, { seed: 2 });
}
