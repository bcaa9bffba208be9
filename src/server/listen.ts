import type { Server, ServerCredentials } from '@grpc/grpc-js';

import { UsageError } from '../config/errors.js';
import type { Logger } from '../log/logger.js';
import { execaRunner } from '../service/command-runner.js';
import { whoListens } from '../service/port-check.js';

/**
 * Binds the server. No host means loopback only: 127.0.0.1, and ::1 on the same port where the
 * machine has IPv6 (a missing ::1 is logged, not fatal).
 */
export async function bindAll(server: Server, host: string | undefined, port: number, credentials: ServerCredentials, logger: Logger): Promise<{ port: number; addresses: string[] }> {
  if (host !== undefined) {
    const address = `${formatHost(host)}:${port}`;
    const bound = await bindOne(server, address, credentials);
    return { port: bound, addresses: [`${formatHost(host)}:${bound}`] };
  }
  const bound = await bindOne(server, `127.0.0.1:${port}`, credentials);
  const addresses = [`127.0.0.1:${bound}`];
  try {
    await bindOne(server, `[::1]:${bound}`, credentials);
    addresses.push(`[::1]:${bound}`);
  } catch (error) {
    logger.warn('IPv6 loopback (::1) is not available; listening on 127.0.0.1 only', { reason: (error as Error).message });
  }
  return { port: bound, addresses };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function bindOne(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? explainBindError(error, address).then(reject, reject) : resolve(port)));
  });
}

async function explainBindError(error: Error, address: string): Promise<Error> {
  const text = error.message;
  if (text.includes('EADDRINUSE')) {
    const who = await whoListens(Number(address.split(':').pop()), execaRunner);
    return new UsageError(`${address} is already in use by ${who ?? 'another program'}`, 'stop that program or pick another port with --port (e.g. `ss -ltnp` shows who listens)');
  }
  if (text.includes('EACCES')) return new UsageError(`permission denied listening on ${address}`, 'ports below 1024 need root; pick a port above 1024 with --port');
  if (text.includes('EADDRNOTAVAIL') || text.includes('ENOTFOUND') || text.includes('Name resolution failed')) {
    return new UsageError(`cannot listen on ${address}: that address is not on this machine`, 'use an address of this machine, 0.0.0.0 for all, or leave --host out for loopback only');
  }
  return error;
}
