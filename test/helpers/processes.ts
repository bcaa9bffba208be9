import fs from 'node:fs';

/** Parent pid from /proc/<pid>/stat (the field after the state; the name in parentheses may hold spaces). */
function parentOf(pid: string): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Children of `pid`: /proc/<pid>/task/<pid>/children where the kernel has it, else a scan of
 * every process's parent (some kernels and sandboxes do not offer the children file).
 */
export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name) && parentOf(name) === pid).map(Number);
  }
}

/** Exited: gone, or a zombie nobody reaped (a container's PID 1 may not reap orphans). */
export function exited(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
