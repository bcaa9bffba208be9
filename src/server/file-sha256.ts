import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';

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
  const hash = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  const sha256 = hash.digest('hex');
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(file, { key, sha256 });
  return sha256;
}
