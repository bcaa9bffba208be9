import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { askYesNo } from '../util/prompt.js';
import { uninstall, type UninstallResult } from '../service/uninstall.js';

export default class Uninstall extends BaseCommand {
  static override summary = 'Stop and remove the service, its configuration, certificates and logs.';
  static override description = 'Models stay unless --purge. Safe to run twice, or after a half-finished install.';
  static override examples = ['<%= config.bin %> uninstall', '<%= config.bin %> uninstall --purge -y'];
  static override flags = {
    name: Flags.string({ description: 'service name', default: 'dts-util' }),
    'service-manager': Flags.string({ description: 'auto, systemd, launchd or none', options: ['auto', 'systemd', 'launchd', 'none'], default: 'auto' }),
    system: Flags.boolean({ description: 'the system service (default for root)', exclusive: ['user'] }),
    user: Flags.boolean({ description: 'the per-user service (default for other users)', exclusive: ['system'] }),
    purge: Flags.boolean({ description: 'also delete the models directory' }),
    yes: Flags.boolean({ char: 'y', description: 'do not ask before deleting models' }),
  };

  async run(): Promise<UninstallResult> {
    const { flags } = await this.parse(Uninstall);
    const result = await uninstall({
      name: flags.name,
      manager: flags['service-manager'] as 'auto',
      scope: flags.system ? 'system' : flags.user ? 'user' : undefined,
      purge: flags.purge,
      yes: flags.yes,
      env: process.env,
      confirm: process.stdin.isTTY && !this.jsonEnabled() ? askYesNo : undefined,
    });
    if (!this.jsonEnabled()) {
      if (!result.changed) this.log('dts-util is not installed here; nothing to remove.');
      for (const file of result.removed) this.log(`removed ${file}`);
      for (const file of result.kept) this.log(`kept ${file} (models; --purge deletes them)`);
      for (const warning of result.warnings) this.warn(warning);
    }
    return result;
  }
}
