import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { CommandRunner } from './command-runner.js';

/** Whether something already listens on host:port (a quick bind attempt, released at once). */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** "pid 4121 (node …/bin/run.js serve)" from `ss`, when it can tell; undefined otherwise (not installed, no permission). */
export async function whoListens(port: number, runner: CommandRunner): Promise<string | undefined> {
  try {
    const { exitCode, stdout } = await runner.run('ss', ['-H', '-ltnp', `sport = :${port}`], { reject: false });
    const match = exitCode === 0 ? /users:\(\("([^"]+)",pid=(\d+)/.exec(stdout) : null;
    return match ? `pid ${match[2]} (${commandLine(Number(match[2])) ?? match[1]})` : undefined;
  } catch {
    return undefined;
  }
}

/** Words of another program's command line worth showing: the program and its first two arguments. */
const SHOWN_WORDS = 3;

/**
 * What a process runs, from /proc/<pid>/cmdline: ss names a process by its thread name (comm), and
 * Node 24 names its main thread "MainThread", which says nothing. Options are left out from the
 * first one on: another program's flags may carry its secrets. Undefined where /proc cannot tell.
 */
export function commandLine(pid: number): string | undefined {
  let words: string[];
  try {
    words = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
  const firstOption = words.findIndex((word) => word.startsWith('-'));
  const shown = words.slice(0, firstOption < 0 ? SHOWN_WORDS : Math.min(firstOption, SHOWN_WORDS)).map((word, index) => (index === 0 ? path.basename(word) : shortPath(word)));
  return shown.length > 0 ? shown.join(' ').slice(0, 120) : undefined;
}

/** A script's path by its last two parts ("…/bin/run.js"): enough to recognise it, short enough for one line. */
function shortPath(word: string): string {
  const parts = word.split('/');
  return parts.length > 3 ? `…/${parts.slice(-2).join('/')}` : word;
}
