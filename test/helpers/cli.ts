import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import { connect, type Connection } from '../../src/client/client.js';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';

export const BIN = path.join(PACKAGE_ROOT, 'bin', 'run.js');

/** Runs the built binary to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  /** Parsed JSON log lines so far. */
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** What it wrote on stderr so far (its own and its worker's: they share the pipe). */
  stderr(): string;
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/**
 * Starts `dts-util serve` as its own process and waits for its "listening" line. `launcher` runs
 * it through another command first (e.g. `prlimit --fsize=…`).
 */
export async function spawnServe(args: string[], env: NodeJS.ProcessEnv, launcher: string[] = []): Promise<ServeProcess> {
  const portArgs = args.includes('--port') ? [] : ['--port', '0'];
  const command = [...launcher, process.execPath, BIN, 'serve', ...portArgs, ...args];
  const child = spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text));
    } catch {
      lines.push({ text });
    }
    for (const wake of waiters) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLine = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`serve did not log the expected line; stderr: ${stderr}; stdout: ${JSON.stringify(lines)}`));
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => setTimeout(check, 0));
      check();
    });
  const listening = await waitForLine((l) => l.msg === 'dts-util server listening');
  const port = Number(String((listening.addresses as string[])[0]).split(':').pop());
  return { child, port, lines, exited, stderr: () => stderr, waitForLine };
}

export interface ServeWithClient {
  serve: ServeProcess;
  /** A TLS client verified against the install's own CA. */
  connection: Connection;
  /** Closes the client, stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A TLS client for a server on 127.0.0.1:`port` whose certificate the CA in `tlsDir`/ca.pem signed. */
export function connectLoopback(port: number | string, tlsDir: string): Connection {
  return connect({ address: `127.0.0.1:${port}`, tls: true, caPem: fs.readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8') });
}

/** `dts-util serve` in its own process, under DTS_UTIL_HOME `home`, with a client connected to it. */
export async function serveWithClient(args: string[], home: string, env: NodeJS.ProcessEnv, launcher: string[] = []): Promise<ServeWithClient> {
  const serve = await spawnServe(args, env, launcher);
  const connection = connectLoopback(serve.port, path.join(home, 'tls'));
  return {
    serve,
    connection,
    async stop() {
      connection.close();
      serve.child.kill('SIGTERM');
      await serve.exited;
    },
  };
}

/** oclif wraps a long error message onto "›" continuation lines: the message as one line again. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*›\s*/g, ' ');
}
