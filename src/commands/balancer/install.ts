import { Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { balancerFlags } from '../../balancer/balancer.js';
import { installBalancer, type BalancerInstallResult } from '../../balancer/install.js';

export default class BalancerInstall extends BaseCommand {
  static override summary = 'Write the HAProxy configuration and run HAProxy with it as a service (systemd).';
  static override description =
    'Takes the flags of `balancer haproxy`, writes the configuration (default <config dir>/<name>.cfg), checks it with `haproxy -c`, then installs, enables and (re)starts a systemd unit running `haproxy -Ws -f CONFIG`. With --service-manager none it prints the command to run instead.';
  static override examples = [
    '<%= config.bin %> balancer install --listen 0.0.0.0:7859 --backend gpu1:7859 --backend gpu2:7859 --agent-port 7869 --tls-crt /etc/haproxy/site.pem --backend-ca /etc/dts-util/fleet-ca.pem',
    '<%= config.bin %> balancer install --service-manager none --no-tls --listen 127.0.0.1:7000 --backend 127.0.0.1:7859',
  ];
  static override flags = {
    ...balancerFlags,
    out: Flags.string({ description: 'where the configuration goes (default: <config dir>/<name>.cfg)' }),
    name: Flags.string({ description: 'service name', default: 'dts-util-balancer' }),
    haproxy: Flags.string({ description: 'the haproxy binary', default: 'haproxy' }),
    'service-manager': Flags.string({ description: 'auto, systemd or none', options: ['auto', 'systemd', 'none'], default: 'auto' }),
    system: Flags.boolean({ description: 'a system service (default for root)', exclusive: ['user'] }),
    user: Flags.boolean({ description: 'a per-user service (default for other users)', exclusive: ['system'] }),
    'dry-run': Flags.boolean({ description: 'print the unit and where the configuration would go; change nothing' }),
  };

  async run(): Promise<BalancerInstallResult> {
    const { flags } = await this.parse(BalancerInstall);
    const result = await installBalancer({
      flags,
      out: flags.out,
      name: flags.name,
      manager: flags['service-manager'] as 'auto',
      scope: flags.system ? 'system' : flags.user ? 'user' : undefined,
      haproxy: flags.haproxy,
      dryRun: flags['dry-run'],
      env: process.env,
    });
    if (this.jsonEnabled()) return result;
    if (result.dryRun) this.log(`Dry run: nothing was changed. The configuration would go to ${result.configFile}.`);
    else this.log(`Wrote and checked ${result.configFile}.`);
    if (result.serviceFile) this.log(`${result.dryRun ? '\n# ' : 'Installed and started '}${result.serviceFile}${result.dryRun ? `\n${result.serviceText ?? ''}` : ''}`);
    else this.log(`No service was installed. Run HAProxy with:\n  ${result.command}`);
    return result;
  }
}
