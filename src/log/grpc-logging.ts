import { format } from 'node:util';

import { setLogger } from '@grpc/grpc-js';

import type { Logger } from './logger.js';

/**
 * grpc-js's own log lines go to the server's logger, at debug, instead of raw to stderr: they
 * are for debugging grpc-js ("E No address added out of total 1 resolved" ahead of the server's
 * own port-in-use message), and every failure a user must hear of the server reports itself.
 * `--log-level debug` shows them; GRPC_NODE_VERBOSITY still chooses which grpc-js writes.
 */
export function routeGrpcLogging(logger: Logger): void {
  const write = (severity: string) => (message?: unknown, ...rest: unknown[]) => logger.debug('grpc-js', { severity, text: format(message, ...rest) });
  setLogger({ error: write('error'), info: write('info'), debug: write('debug') });
}
