import fs from 'node:fs';

import { procStat } from '../../src/util/proc-stat.js';

/**
 * Children of `pid`: /proc/<pid>/task/<pid>/children where the kernel has it, else a scan of
 * every process's parent (some kernels and sandboxes do not offer the children file).
 */
export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name) && procStat(Number(name))?.ppid === pid).map(Number);
  }
}

/** Exited: gone, or a zombie nobody reaped (a container's PID 1 may not reap orphans). */
export function exited(pid: number): boolean {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z';
}
