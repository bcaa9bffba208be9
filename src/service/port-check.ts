import net from 'node:net';

import type { CommandRunner } from './command-runner.js';

/** Whether something already listens on host:port (a quick bind attempt, released at once). */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** "pid 4121 (node)" from `ss`, when it can tell; undefined otherwise (not installed, no permission). */
export async function whoListens(port: number, runner: CommandRunner): Promise<string | undefined> {
  try {
    const { exitCode, stdout } = await runner.run('ss', ['-H', '-ltnp', `sport = :${port}`], { reject: false });
    const match = exitCode === 0 ? /users:\(\("([^"]+)",pid=(\d+)/.exec(stdout) : null;
    return match ? `pid ${match[2]} (${match[1]})` : undefined;
  } catch {
    return undefined;
  }
}
