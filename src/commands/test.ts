import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_GENERATE_TIMEOUT_MS, runSmokeTest, SMOKE_MODEL, type SmokeReport } from '../client/smoke-test.js';
import { isLoopbackHost, resolveConnectionSettings } from '../config/settings.js';
import { checkInstalledService } from '../service/check-service.js';

export default class Test extends BaseCommand {
  static override summary = 'Check that the server works: TLS certificate, Echo, health, and with --generate one image.';
  static override description =
    "Exit status 0 when healthy, 1 when not, 2 for a usage error (with --json too). Reads the install's settings; flags override them for another server.";
  static override examples = [
    '<%= config.bin %> test',
    '<%= config.bin %> test --json',
    '<%= config.bin %> test --generate',
    '<%= config.bin %> test --host gpu-box.lan --ca ./ca.pem',
  ];
  static override flags = {
    ...BaseCommand.connectionFlags,
    ca: Flags.file({ description: "CA certificate that signed the server's certificate (default: the install's own)" }),
    timeout: Flags.integer({
      description: `seconds each call may take (default: ${DEFAULT_CALL_TIMEOUT_MS / 1000}, and ${DEFAULT_GENERATE_TIMEOUT_MS / 1000} for the --generate call)`,
      min: 1,
    }),
    generate: Flags.boolean({ description: `also generate one 64×64 image in 2 steps, end to end (model: ${SMOKE_MODEL}, built in)` }),
    model: Flags.string({ description: `model for --generate (default: ${SMOKE_MODEL})`, dependsOn: ['generate'] }),
    'service-name': Flags.string({ description: 'the installed service whose state to check, where one is installed', default: 'dts-util' }),
  };

  async run(): Promise<SmokeReport> {
    const { flags } = await this.parse(Test);
    const settings = resolveConnectionSettings(this.connectionFlags(flags));
    this.noteSettingsSource(settings);
    const report = await runSmokeTest({
      settings,
      caPath: flags.ca,
      timeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
      generate: flags.generate ? { model: flags.model ?? SMOKE_MODEL } : undefined,
      // The service's state is known only on its own machine.
      service: isLoopbackHost(settings.host) ? () => checkInstalledService({ name: flags['service-name'], env: process.env }) : undefined,
    });
    if (!this.jsonEnabled()) {
      this.log(`${report.healthy ? 'healthy' : 'UNHEALTHY'}: ${report.address} (${report.tls ? 'TLS' : 'plaintext'})`);
      for (const check of report.checks) {
        this.log(`  ${check.ok ? '✓' : '✗'} ${check.name}: ${check.detail}${check.durationMs === undefined ? '' : ` (${check.durationMs} ms)`}`);
      }
    }
    if (!report.healthy) process.exitCode = 1;
    return report;
  }
}
