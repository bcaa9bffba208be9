import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { makeDirectorySync } from '../util/make-directory.js';

/** Creates (or tightens) a folder only its owner can enter. */
export function ensurePrivateDir(dir: string): void {
  makeDirectorySync(dir, 0o700);
  fs.chmodSync(dir, 0o700);
}

/**
 * Writes a file atomically with the given mode: readers see the old file or the whole new one,
 * and a private key is never readable by others, not even for a moment.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(temp, data, { mode, flag: 'wx' });
    fs.chmodSync(temp, mode);
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}
