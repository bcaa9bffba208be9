import path from 'node:path';

import { buildPipeline, FAMILY_CONFIGS, INPAINT_CONFIGS } from '../../tools/model-builder/pipeline.js';

/**
 * Builds tiny pipelines of the other families (the builder CLI's names: tiny-sdxl, tiny-sdxl-turbo,
 * tiny-sd-turbo, tiny-lcm and their -fp16 variants; all by default; the inpainting ones,
 * tiny-sd15-inpaint and tiny-sd15-inpaint-fp16, when named) into a models directory, each in a
 * folder of that name, seed 1.
 */
export async function installFamilyModels(modelsDir: string, names: string[] = Object.keys(FAMILY_CONFIGS)): Promise<void> {
  for (const name of names) {
    const config = FAMILY_CONFIGS[name] ?? INPAINT_CONFIGS[name];
    if (!config) throw new Error(`no family pipeline named ${name}; known: ${[...Object.keys(FAMILY_CONFIGS), ...Object.keys(INPAINT_CONFIGS)].join(', ')}`);
    await buildPipeline(path.join(modelsDir, name), config, { seed: 1 });
  }
}
