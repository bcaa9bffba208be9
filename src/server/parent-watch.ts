import { procStat } from '../util/proc-stat.js';

/** How often the parent is looked for: a stopped npx should not leave a server behind for long. */
const POLL_MS = 500;

/**
 * Started by npm (npx, npm exec, npm start): npm sets these in every script's environment. Only
 * then does the parent's death stop the server; a server started from a shell with `&` or nohup
 * is meant to outlive that shell.
 */
export function startedByNpm(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.npm_execpath || env.npm_lifecycle_event || env.npm_command);
}

/**
 * Resolves when the process that started this one is gone. npm forwards SIGINT and SIGTERM to its
 * child, but an npm that is killed (SIGKILL, a closed terminal's SIGHUP to npm alone) leaves its
 * child orphaned. Node's process.ppid is read once at start, so the live parent comes from
 * /proc/self/stat (Linux) or, elsewhere, from whether the first parent still exists.
 */
export function whenParentGone(): { gone: Promise<void>; stop(): void } {
  const first = process.ppid;
  let timer: NodeJS.Timeout | undefined;
  const gone = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (!parentAlive(first)) resolve();
    }, POLL_MS);
    timer.unref();
  });
  return { gone, stop: () => clearInterval(timer) };
}

function parentAlive(first: number): boolean {
  const stat = procStat('self');
  if (stat) return stat.ppid === first;
  try {
    process.kill(first, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
