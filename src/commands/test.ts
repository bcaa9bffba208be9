import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { runSmokeTest, type SmokeReport } from '../client/smoke-test.js';
import { resolveConnectionSettings } from '../config/settings.js';

export default class Test extends BaseCommand {
  static override summary = 'Check that the server answers: TLS handshake, Echo, health.';
  static override description = 'Exit status 0 when healthy, 1 when not, 2 for a usage error. Reads the install\'s settings; flags override them for another server.';
  static override examples = ['<%= config.bin %> test', '<%= config.bin %> test --json', '<%= config.bin %> test --host gpu-box.lan --ca ./ca.pem'];
  static override flags = {
    ...BaseCommand.connectionFlags,
    ca: Flags.file({ description: "CA certificate that signed the server's certificate (default: the install's own)" }),
    timeout: Flags.integer({ description: 'seconds to wait for each answer', default: 10, min: 1 }),
  };

  async run(): Promise<SmokeReport> {
    const { flags } = await this.parse(Test);
    const settings = resolveConnectionSettings(this.connectionFlags(flags));
    const report = await runSmokeTest({ settings, caPath: flags.ca, timeoutMs: flags.timeout * 1000 });
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
