import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import type { Logger } from '../log/logger.js';
import { formatBytes } from '../util/format-bytes.js';

/**
 * A new staging file's name: `<pid>.<random>.<suffix>`. The pid says which server wrote it, so
 * one starting later can tell an upload another live server is receiving into the same models
 * directory from what a killed one left behind.
 */
export function stagingFileName(suffix: 'part' | 'direct-probe'): string {
  return `${process.pid}.${crypto.randomUUID()}.${suffix}`;
}

/**
 * At start: removes from the staging folder what no running server is writing. A server killed
 * mid-upload (kill -9, a power cut, OOM) cannot clean up after itself, and its `.part` files
 * would otherwise fill the disk unseen. Kept: names whose pid is another live process. Removed:
 * those whose pid is gone or is this process's own (in a container every restart is pid 1, and
 * this process has no uploads yet), and names without a pid (older versions'). Logs the count
 * and bytes when there was anything.
 */
export async function removeStaleUploads(staging: string, logger: Logger): Promise<{ files: number; bytes: number }> {
  let entries: string[];
  try {
    entries = await fs.readdir(staging);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { files: 0, bytes: 0 };
    throw error;
  }
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (writtenByAnotherLiveProcess(entry)) continue;
    const file = path.join(staging, entry);
    const stats = await fs.lstat(file).catch(() => undefined);
    if (!stats) continue;
    await fs.rm(file, { recursive: true, force: true });
    files += 1;
    bytes += stats.isFile() ? stats.size : 0;
  }
  if (files > 0) logger.warn('removed unfinished uploads an earlier server left in the staging folder', { dir: staging, files, bytes, size: formatBytes(bytes) });
  return { files, bytes };
}

function writtenByAnotherLiveProcess(entry: string): boolean {
  const pid = Number(/^(\d+)\./.exec(entry)?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
