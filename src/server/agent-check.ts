import net from 'node:net';

import { UsageError } from '../config/errors.js';
import type { Logger } from '../log/logger.js';

/*
 * HAProxy's agent check (haproxy configuration manual, "agent-check"): HAProxy connects to a small
 * TCP port, reads one line of words and closes. HAProxy cannot ask a server's gRPC health service
 * (its checks speak HTTP/1 and read no HTTP/2 trailers), so the server says it here instead:
 *
 * - "up ready" while it serves: up, and out of drain if it was draining (a restarted server);
 * - "drain" once shutdown made gRPC health NOT_SERVING: HAProxy sends it no new call while its
 *   running generations finish.
 *
 * A server that is gone answers nothing; HAProxy then relies on its plain `check` of the gRPC port.
 */

export interface AgentCheck {
  port: number;
  close(): Promise<void>;
}

/** The line an agent check answers with. */
export function agentReply(serving: boolean): string {
  return serving ? 'up ready\n' : 'drain\n';
}

/** Listens on host:port (127.0.0.1 when host is undefined; port 0 picks one) and answers each connection. */
export async function startAgentCheck(host: string | undefined, port: number, serving: () => boolean, logger: Logger): Promise<AgentCheck> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.end(agentReply(serving()));
  });
  const listenHost = host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new UsageError(`the agent-check port ${port} on ${listenHost} is in use`, 'pick another with --agent-port') : error),
    );
    server.listen(port, listenHost, () => resolve());
  });
  const bound = (server.address() as net.AddressInfo).port;
  logger.info('HAProxy agent check listening', { address: `${listenHost}:${bound}` });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
