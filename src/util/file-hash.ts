import crypto from 'node:crypto';
import fs from 'node:fs';

/** Feeds a local file into a hash, told every chunk's size (progress bars show the check). */
export async function hashFile(file: string, hash: crypto.Hash, onBytes?: (bytes: number) => void): Promise<void> {
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
}

/** SHA-256 of a local file, lowercase hex. */
export async function localSha256(file: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = crypto.createHash('sha256');
  await hashFile(file, hash, onBytes);
  return hash.digest('hex');
}
