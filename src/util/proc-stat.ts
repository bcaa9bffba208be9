import fs from 'node:fs';

/**
 * A process's state letter and parent pid from /proc/<pid>/stat (Linux), or undefined when there
 * is no such process or no /proc. The name before them is in parentheses and may hold spaces and
 * parentheses itself, so the fields are read after the last ')'.
 */
export function procStat(pid: number | 'self'): { state: string; ppid: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const [state = '', ppid = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state, ppid: Number(ppid) };
}
