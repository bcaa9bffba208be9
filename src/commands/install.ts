import { Flags } from '@oclif/core';
import { Listr } from 'listr2';

import { BaseCommand } from '../base-command.js';
import { askYesNo } from '../util/prompt.js';
import { planInstall, type InstallResult } from '../service/install.js';

/** A failed install's error, with what the rollback undid (the machine is as it was). */
function withRollback(error: Error, undone: string[]): Error {
  const back = undone.length > 0 ? `; rolled back: ${undone.join('; ')}` : '; nothing had been written';
  // A usage error keeps its exit status 2 and suggestion; anything else exits 1.
  error.message = `${error.message}${back}`;
  return error;
}

export default class Install extends BaseCommand {
  static override summary = 'Install the server as a service (systemd on Linux, launchd on macOS) and start it.';
  static override description =
    'Makes the TLS certificates, writes the configuration and a 0600 secrets file, installs and starts the service, and waits until it answers a TLS health check. Running it again with the same flags changes nothing; new flags update the install and restart the service.';
  static override examples = [
    '<%= config.bin %> install',
    '<%= config.bin %> install --port 7860 --generate-secret',
    'DD_API_KEY=… <%= config.bin %> install --host 0.0.0.0 --generate-secret',
    '<%= config.bin %> install --service-manager none   # containers: write config, print the serve command',
    '<%= config.bin %> install --dry-run',
  ];
  static override flags = {
    ...BaseCommand.serverFlags,
    'generate-secret': Flags.boolean({ description: 'make a random shared secret (printed once) and require it', exclusive: ['shared-secret', 'shared-secret-file'] }),
    name: Flags.string({ description: 'service name', default: 'dts-util' }),
    'service-manager': Flags.string({ description: 'auto, systemd, launchd or none', options: ['auto', 'systemd', 'launchd', 'none'], default: 'auto' }),
    system: Flags.boolean({ description: 'a system service (default for root)', exclusive: ['user'] }),
    user: Flags.boolean({ description: 'a per-user service (default for other users)', exclusive: ['system'] }),
    'dry-run': Flags.boolean({ description: 'print the service file and configuration; change nothing' }),
    yes: Flags.boolean({ char: 'y', description: 'do not ask before changing an existing install' }),
  };

  async run(): Promise<InstallResult> {
    const { flags } = await this.parse(Install);
    const datadogApiKey = flags['datadog-api-key'] ?? process.env.DD_API_KEY;
    if (flags['datadog-api-key'] || flags['shared-secret']) process.title = 'dts-util install';
    const { steps, result, rollback } = await planInstall({
      flags: this.serverFlags(flags),
      generateSecret: flags['generate-secret'],
      datadogApiKey,
      name: flags.name,
      manager: flags['service-manager'] as 'auto',
      scope: flags.system ? 'system' : flags.user ? 'user' : undefined,
      dryRun: flags['dry-run'],
      yes: flags.yes,
      env: process.env,
      confirm: process.stdin.isTTY && !this.jsonEnabled() ? askYesNo : undefined,
    });
    try {
      await new Listr(
        steps.map((step) => ({
          title: step.title,
          task: async (_ctx: unknown, task: { output: string }) => {
            const outcome = await step.run();
            if (outcome) task.output = outcome;
          },
          rendererOptions: { persistentOutput: true },
        })),
        { renderer: this.jsonEnabled() ? 'silent' : 'default', fallbackRenderer: 'simple' },
      ).run();
    } catch (error) {
      throw withRollback(error as Error, await rollback());
    }
    if (!this.jsonEnabled()) this.printSummary(result);
    return result;
  }

  private printSummary(result: InstallResult): void {
    if (result.dryRun) {
      this.log(`Dry run: nothing was changed.\n`);
      if (result.note) this.log(`Note: ${result.note}.\n`);
      if (result.serviceFile) this.log(`# ${result.serviceFile}\n${result.serviceText ?? ''}`);
      this.log(`# ${result.configDir}/config.json\n${JSON.stringify(result.config, null, 2)}`);
      return;
    }
    if (!result.changed) this.log('Already installed with these settings; nothing changed.');
    if (result.manager === 'none') this.log(`\nNo service was installed. Run the server with:\n  ${result.serveCommand}`);
    this.log(`\nServer: ${result.address} (${result.tls ? 'TLS' : 'plaintext'})`);
    if (result.caPath) this.log(`CA certificate for clients: ${result.caPath}\n  SHA-256 ${result.caFingerprint}`);
    this.log(result.secretRequired ? 'Clients must send the shared secret (authorization: Bearer …).' : 'No shared secret: anyone who can reach the address can use it.');
    if (result.secretKept) this.log(`Kept the shared secret this install made earlier (in ${result.configDir}/secrets.env).`);
    if (result.generatedSecret) this.log(`Generated shared secret (shown once; also in ${result.configDir}/secrets.env):\n  ${result.generatedSecret}`);
    this.log(`Check it: dts-util test${result.manager === 'none' ? '   (after starting it)' : ''}`);
    if (result.manager === 'systemd' && result.scope === 'user') {
      // A user unit stops when its user's last session ends, unless lingering is on.
      this.log('To keep it running after you log out: loginctl enable-linger "$USER"');
    }
  }
}
