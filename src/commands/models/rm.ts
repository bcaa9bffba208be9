import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../config/errors.js';
import { resolveServerSettings } from '../../config/settings.js';
import { formatBytes } from '../../util/format-bytes.js';
import { modelToRemove, removeModel, type RemoveResult } from '../../models/remove.js';
import { askYesNo } from '../../util/prompt.js';

export default class ModelsRm extends BaseCommand {
  static override summary = 'Remove a model from the local models directory.';
  static override description = 'Asks first on a terminal; --yes skips the question (required where there is no terminal to ask on). The built-in smoke model cannot be removed.';
  static override examples = ['<%= config.bin %> models rm sd15', '<%= config.bin %> models rm sd15 --yes --json', '<%= config.bin %> models rm sd15 -y --model-path /srv/models'];
  static override args = { name: Args.string({ description: 'the model (its folder name, as models list shows it)', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'remove without asking' }),
    'model-path': Flags.string({ description: 'models directory [env: DTS_UTIL_MODEL_PATH]' }),
  };

  async run(): Promise<RemoveResult> {
    const { args, flags } = await this.parse(ModelsRm);
    const { modelsDir } = resolveServerSettings({ modelPath: flags['model-path'] });
    const target = modelToRemove(modelsDir, args.name);
    if (!flags.yes) {
      if (!process.stdin.isTTY) throw new UsageError(`not removing ${args.name} without confirmation: there is no terminal to ask on`, `pass --yes to remove it: dts-util models rm ${args.name} --yes`);
      if (!(await askYesNo(`Remove the model ${args.name} (${formatBytes(target.bytes)}) from ${modelsDir}?`))) this.error('nothing removed', { exit: 1 });
    }
    const removed = await removeModel(modelsDir, args.name, target);
    if (!this.jsonEnabled()) this.log(`removed ${removed.name} (${formatBytes(removed.bytes)}) from ${modelsDir}`);
    return removed;
  }
}
