import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { checkHealth, type Connection } from '../../src/client/client.js';

export interface RunningHaproxy {
  child: ChildProcess;
  /** What it wrote (warnings, server state changes) so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Debian's haproxy in the foreground (-db) with `config` written to `dir`/haproxy.cfg. */
export function startHaproxy(dir: string, config: string): RunningHaproxy {
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, config);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits until health through the balancer answers SERVING (HAProxy is up and has a server up). */
export async function waitForBalancer(connection: Connection, haproxy: RunningHaproxy, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await checkHealth(connection, '', 1000)) === 'SERVING') return;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`the balancer did not come up; haproxy said: ${haproxy.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
