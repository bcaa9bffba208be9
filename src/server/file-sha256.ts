import type fs from 'node:fs';

import { localSha256 } from '../util/file-hash.js';

/** Remembered digests, keyed by path; an entry counts only while the file's identity and times are unchanged. */
const cache = new Map<string, { key: string; sha256: string }>();
const MAX_ENTRIES = 10_000;

function identity(stats: fs.Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/**
 * SHA-256 of a file on the server, read once and then remembered until the file changes: a client
 * re-running an interrupted `models upload` asks for the same multi-gigabyte files again.
 */
export async function fileSha256(file: string, stats: fs.Stats): Promise<string> {
  const key = identity(stats);
  const hit = cache.get(file);
  if (hit?.key === key) return hit.sha256;
  const sha256 = await localSha256(file);
  rememberSha256(file, stats, sha256);
  return sha256;
}

/** Records a digest already known (UploadFile hashed every byte it stored), so asking for it costs no read. */
export function rememberSha256(file: string, stats: fs.Stats, sha256: string): void {
  if (cache.size >= MAX_ENTRIES && !cache.has(file)) cache.delete(cache.keys().next().value!);
  cache.set(file, { key: identity(stats), sha256 });
}
