import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { resolveServerSettings } from '../config/settings.js';
import { isLogLevel } from '../log/logger.js';
import { createServerLogging } from '../log/server-logging.js';
import { runServerUntilSignal, type ServeResult } from '../server/run.js';

export default class Serve extends BaseCommand {
  static override summary = 'Run the gRPC image-generation server in the foreground.';
  static override description =
    'Listens on loopback with TLS by default. Stops gracefully on SIGTERM or SIGINT (and, under npx, when npm goes away): health turns NOT_SERVING, running calls drain for up to --grace-period, calls still running then get UNAVAILABLE "the server is shutting down", and it exits. A second signal stops it at once.';
  static override examples = [
    '<%= config.bin %> serve',
    'DTS_UTIL_SHARED_SECRET=s3cret <%= config.bin %> serve --port 7860 --model-path /srv/models',
    '<%= config.bin %> serve --host 0.0.0.0 --shared-secret-file /etc/dts-util/secret',
    '<%= config.bin %> serve --device cuda --gpu 1 --no-device-fallback',
  ];
  static override flags = {
    ...BaseCommand.serverFlags,
    'grace-period': Flags.integer({ description: 'seconds to let running calls finish on shutdown; the server ends those still running then with UNAVAILABLE', default: 30, min: 0 }),
    'agent-port': Flags.integer({ description: 'answer HAProxy agent checks on this TCP port: "up ready", or "drain" once shutting down (default: off; see `dts-util balancer haproxy`) [env: DTS_UTIL_AGENT_PORT]', min: 0, max: 65535 }),
    'log-level': Flags.string({ description: 'debug, info, warn or error [env: DTS_UTIL_LOG_LEVEL]', options: ['debug', 'info', 'warn', 'error'] }),
  };

  async run(): Promise<ServeResult> {
    const { flags } = await this.parse(Serve);
    const settings = resolveServerSettings({ ...this.serverFlags(flags), agentPort: flags['agent-port'] });
    this.noteSettingsSource(settings);
    const level = flags['log-level'] ?? process.env.DTS_UTIL_LOG_LEVEL ?? 'info';
    const logging = createServerLogging(settings, isLogLevel(level) ? level : 'info');
    try {
      return await runServerUntilSignal(settings, logging.logger, flags['grace-period'] * 1000, logging);
    } finally {
      await logging.close();
    }
  }
}
