import fs from 'node:fs';
import path from 'node:path';

import { connect, type Connection } from '../../src/client/client.js';
import { resolveServerSettings, type ServerFlags, type ServerSettings } from '../../src/config/settings.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { tempHome } from './temp-home.js';

export interface TestServer {
  server: RunningServer;
  settings: ServerSettings;
  home: string;
  address: string;
  /** Every log line the server wrote, as text. */
  logs: string[];
  caPem: string | undefined;
  /** A client with the install's CA; the secret only when given. */
  client(options?: { sharedSecret?: string; caPem?: string; tls?: boolean }): Connection;
  stop(): Promise<void>;
}

/** The real server on 127.0.0.1:0 with a private DTS_UTIL_HOME, real TLS unless tls: false. */
export async function startTestServer(flags: ServerFlags = {}, extraEnv: NodeJS.ProcessEnv = {}): Promise<TestServer> {
  const { home, env, cleanup } = tempHome();
  const settings = resolveServerSettings({ port: 0, ...flags }, { ...env, ...extraEnv });
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', write: (line) => logs.push(line) });
  logger.redact(settings.sharedSecret);
  const server = await startServer(settings, logger);
  const caPem = server.certificates?.caCertPem;
  const address = `127.0.0.1:${server.port}`;
  const clients: Connection[] = [];
  return {
    server,
    settings,
    home,
    address,
    logs,
    caPem,
    client(options = {}) {
      const connection = connect({ address, tls: options.tls ?? settings.tls, caPem: options.caPem ?? caPem, sharedSecret: options.sharedSecret });
      clients.push(connection);
      return connection;
    },
    async stop() {
      for (const c of clients) c.close();
      await server.shutdown(2000);
      cleanup();
    },
  };
}

/** Lists every file under dir (relative paths), for "nothing left behind" checks. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}
