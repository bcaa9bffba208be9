import { Command, Flags } from '@oclif/core';

import { UsageError } from './config/errors.js';
import type { ConnectionFlags } from './config/settings.js';

/**
 * What every command shares: --json, the connection flags, and one catch() that turns a
 * UsageError into exit status 2 with a suggested fix (a JSON error object under --json).
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static connectionFlags = {
    host: Flags.string({ description: 'address to listen on / connect to (default: loopback only) [env: DTS_UTIL_HOST]' }),
    port: Flags.integer({ description: 'TCP port (default: 7859) [env: DTS_UTIL_PORT]', min: 0, max: 65535 }),
    tls: Flags.boolean({ description: 'use TLS; --no-tls for plaintext (default: on) [env: DTS_UTIL_TLS]', allowNo: true }),
    'shared-secret': Flags.string({
      description: 'shared secret for authentication; visible to other users in `ps`, prefer the env variable or --shared-secret-file [env: DTS_UTIL_SHARED_SECRET]',
    }),
    'shared-secret-file': Flags.file({ description: 'read the shared secret from this file', exists: true }),
  };

  /** Maps parsed oclif flags onto the settings resolver's names. */
  protected connectionFlags(flags: { host?: string; port?: number; tls?: boolean; 'shared-secret'?: string; 'shared-secret-file'?: string }): ConnectionFlags {
    return { host: flags.host, port: flags.port, tls: flags.tls, sharedSecret: flags['shared-secret'], sharedSecretFile: flags['shared-secret-file'] };
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (error instanceof UsageError) {
      const usage = Object.assign(new Error(error.message), { exitCode: 2, suggestions: error.suggestion ? [error.suggestion] : undefined });
      if (this.jsonEnabled()) return super.catch(usage);
      this.error(error.message, { exit: 2, suggestions: usage.suggestions });
    }
    return super.catch(error);
  }

  protected override toErrorJson(error: unknown): unknown {
    const e = error as Error & { exitCode?: number; suggestions?: string[]; oclif?: { exit?: number } };
    return { error: { message: e.message, exitCode: e.exitCode ?? e.oclif?.exit ?? 1, ...(e.suggestions ? { suggestion: e.suggestions.join('; ') } : {}) } };
  }
}
