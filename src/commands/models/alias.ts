import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../config/errors.js';
import { resolveServerSettings } from '../../config/settings.js';
import { modelProblem } from '../../diffusion/model-catalog.js';
import { readModelAliases, writeModelAlias, type ModelAliases } from '../../config/model-aliases.js';
import { findModel } from '../../models/installed.js';

export interface AliasResult {
  aliases: ModelAliases;
  file: string;
  changed: boolean;
}

export default class ModelsAlias extends BaseCommand {
  static override summary = 'Let a Draw Things app model name (its file name) mean a local model.';
  static override description =
    'The Draw Things app asks for models by its own file names (sd_v1.5_f16.ckpt); dts-util models are ONNX folders. An alias makes the app\'s name run your ONNX export of the same model, and Echo and FilesExist offer it. Aliases live in config.json (install keeps them); a running server uses a change at its next request. With no arguments, lists the aliases.';
  static override examples = [
    '<%= config.bin %> models alias sd_v1.5_f16.ckpt sd15',
    '<%= config.bin %> models alias sd_xl_base_1.0_f16.ckpt sdxl',
    '<%= config.bin %> models alias sd_v1.5_f16.ckpt --remove',
    '<%= config.bin %> models alias --json',
  ];
  static override args = {
    alias: Args.string({ description: 'the name the app uses (its model file name)' }),
    model: Args.string({ description: 'the local model it means (its folder name, as models list shows it)' }),
  };
  static override flags = {
    remove: Flags.boolean({ description: 'remove the alias instead' }),
    'model-path': Flags.string({ description: 'models directory, where MODEL must be [env: DTS_UTIL_MODEL_PATH]' }),
  };

  async run(): Promise<AliasResult> {
    const { args, flags } = await this.parse(ModelsAlias);
    const settings = resolveServerSettings({ modelPath: flags['model-path'] });
    const { configDir } = settings.paths;
    let outcome = { file: '', changed: false };
    if (args.alias === undefined) {
      if (flags.remove) throw new UsageError('--remove needs the alias to remove', 'dts-util models alias ALIAS --remove');
    } else if (flags.remove) {
      if (args.model !== undefined) throw new UsageError('--remove takes the alias only', `dts-util models alias ${args.alias} --remove`);
      if (!Object.hasOwn(readModelAliases(configDir), args.alias)) throw new UsageError(`there is no alias ${args.alias}`, 'list them with dts-util models alias');
      outcome = writeModelAlias(configDir, args.alias, undefined);
    } else {
      if (args.model === undefined) throw new UsageError(`which model should ${args.alias} mean?`, `dts-util models alias ${args.alias} MODEL (see dts-util models list)`);
      const model = findModel(settings.modelsDir, args.model);
      const problem = modelProblem(model.dir);
      if (problem) throw new UsageError(`${args.model} cannot be used: ${problem}`, 'dts-util models verify shows what is wrong');
      outcome = writeModelAlias(configDir, args.alias, args.model);
    }
    const aliases = readModelAliases(configDir);
    if (!this.jsonEnabled()) {
      if (args.alias !== undefined) this.log(flags.remove ? `removed the alias ${args.alias}` : `${args.alias} → ${args.model}${outcome.changed ? '' : ' (already so)'}`);
      else if (Object.keys(aliases).length === 0) this.log('no aliases: add one with dts-util models alias APP_FILE MODEL');
      else for (const [alias, model] of Object.entries(aliases)) this.log(`${alias} → ${model}`);
    }
    return { aliases, file: outcome.file, changed: outcome.changed };
  }
}
