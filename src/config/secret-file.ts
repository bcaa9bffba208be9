import fs from 'node:fs';

import { quoteInput } from '../util/quote-input.js';
import { UsageError } from './errors.js';

const WHY: Record<string, string> = { ENOENT: 'there is no such file', EISDIR: 'it is a folder', EACCES: 'permission denied', ENOTDIR: 'a part of the path is not a folder' };

/** The text of --shared-secret-file, or a usage error (exit 2) that says what is wrong with it. */
export function readSecretFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw new UsageError(
      `cannot read the shared secret file ${quoteInput(file)}: ${WHY[code] ?? (code || (error as Error).message)}`,
      'point --shared-secret-file at a file that holds the secret on one line, readable by this user (mode 0600)',
    );
  }
}

/**
 * Why other users can read the secret file, or undefined when they cannot. Only "others" count: a
 * file readable by its group (0640) is how a service group is given a secret, and is left alone.
 */
export function secretFileExposure(file: string): string | undefined {
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
  } catch {
    return undefined; // read at start-up already; gone since, nothing to say about who may read it
  }
  if ((mode & 0o004) === 0) return undefined;
  return `the shared secret file ${quoteInput(file)} is readable by every user on this machine (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); make it private: chmod 600 (or 640 for a service group)`;
}
