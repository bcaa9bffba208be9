import { Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { balancerConfig, balancerFlags, writeBalancerConfig } from '../../balancer/balancer.js';

export interface BalancerHaproxyResult {
  config: string;
  /** Where it was written; undefined when printed. */
  file: string | undefined;
  backends: number;
  tls: boolean;
}

export default class BalancerHaproxy extends BaseCommand {
  static override summary = 'Print (or write) an HAProxy configuration for several dts-util servers behind one address.';
  static override description =
    'gRPC over HTTP/2 end to end. Generations go to the server with the fewest running, at most --workers each, and otherwise wait in HAProxy\'s queue; short calls (Echo, health, uploads, lists) never wait behind them. A server that is down, or draining after SIGTERM (serve --agent-port), gets no new call; a refused connection is retried on another server. Check the result with `haproxy -c -f FILE`.';
  static override examples = [
    '<%= config.bin %> balancer haproxy --listen 0.0.0.0:7859 --backend gpu1:7859 --backend gpu2:7859,workers=2 --agent-port 7869 --tls-crt /etc/haproxy/site.pem --backend-ca /etc/dts-util/fleet-ca.pem --out /etc/haproxy/dts-util.cfg',
    '<%= config.bin %> balancer haproxy --no-tls --listen 127.0.0.1:7000 --backend 127.0.0.1:7859,agent=7869 --backend 127.0.0.1:7860,agent=7870',
  ];
  static override flags = {
    ...balancerFlags,
    out: Flags.string({ description: 'write it to this file (atomically, mode 0644) instead of printing it' }),
  };

  async run(): Promise<BalancerHaproxyResult> {
    const { flags } = await this.parse(BalancerHaproxy);
    const config = balancerConfig(flags, flags.out);
    if (flags.out) writeBalancerConfig(config, flags.out);
    else if (!this.jsonEnabled()) process.stdout.write(config.text);
    if (flags.out && !this.jsonEnabled()) this.log(`Wrote ${flags.out}${config.combinedCrt ? ` and ${config.combinedCrt.file}` : ''}. Check it: haproxy -c -f ${flags.out}`);
    return { config: config.text, file: flags.out, backends: config.options.backends.length, tls: flags.tls };
  }
}
