import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { familyLabel } from '../../diffusion/model-family.js';
import { resolveServerSettings } from '../../config/settings.js';
import { verifyModel, type VerifyResult } from '../../models/verify.js';

export default class ModelsVerify extends BaseCommand {
  static override summary = 'Check that a model in the local models directory loads: every part opened with ONNX Runtime (the VAE encoder, which img2img and inpainting need, when there is one), tokenizers read, shapes consistent.';
  static override description = 'Exits 0 when the model is sound and 1 when anything is wrong, each problem naming its part (a missing file, an ONNX file ONNX Runtime cannot load, widths that disagree). A model without a VAE encoder is sound, with a note that img2img and inpainting are unavailable.';
  static override examples = ['<%= config.bin %> models verify sd15', '<%= config.bin %> models verify sd15 --json'];
  static override args = { name: Args.string({ description: 'the model (its folder name, as models list shows it)', required: true }) };
  static override flags = {
    'model-path': Flags.string({ description: 'models directory [env: DTS_UTIL_MODEL_PATH]' }),
  };

  async run(): Promise<VerifyResult> {
    const { args, flags } = await this.parse(ModelsVerify);
    const { modelsDir } = resolveServerSettings({ modelPath: flags['model-path'] });
    const result = await verifyModel(modelsDir, args.name);
    if (!this.jsonEnabled()) {
      for (const part of result.parts) this.log(`${part.ok ? 'ok  ' : 'FAIL'}  ${part.part}${part.problem ? `: ${part.problem}` : ''}`);
      for (const note of result.notes) this.log(`note  ${note}`);
      this.log(result.ok ? `${result.name} is sound (${familyLabel(result.family ?? 'unknown', result.inpainting)})` : `${result.name} is broken:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`);
    }
    // --json prints the report and still exits non-zero, so scripts can test the status alone.
    if (!result.ok) process.exitCode = 1;
    return result;
  }
}
