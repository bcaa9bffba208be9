import crypto from 'node:crypto';
import fs from 'node:fs';

/** SHA-256 of a local file, told every chunk's size (the progress bar shows the check). */
export async function localSha256(file: string, onBytes?: (bytes: number) => void, start = 0, hash = crypto.createHash('sha256')): Promise<string> {
  for await (const chunk of fs.createReadStream(file, { start, highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}
