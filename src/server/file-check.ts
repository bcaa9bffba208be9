import fs from 'node:fs/promises';

import { quoteInput } from '../util/quote-input.js';
import { invalidArgument, ServiceError } from './errors.js';
import { fileSha256 } from './file-sha256.js';
import { diskProblem, MAX_NAME_BYTES, resolveInside } from './models-dir.js';

/*
 * What both contracts' FilesExist share: the bounds of one request and how one name is checked
 * inside the models directory. Each contract's handler shapes the answers into its own messages.
 */

/** Bounds one request's work and memory; a client checking a whole model needs a few dozen names. */
export const MAX_FILES_PER_REQUEST = 1000;
/** Names checked at once: enough to keep the disk busy, few enough that other calls are not kept waiting. */
export const CHECKS_IN_FLIGHT = 32;

/** One name's answer: error is empty when the name exists (a file or a folder). */
export interface Answer {
  error: string;
  size: number;
  sha256: string;
}

/** Refuses a request over the bounds as a whole (the Draw Things FilesExist shares them). */
export function checkBounds(names: readonly string[]): void {
  if (names.length > MAX_FILES_PER_REQUEST) {
    throw invalidArgument(`too many names (${names.length}); ask for at most ${MAX_FILES_PER_REQUEST} per call`);
  }
  names.forEach((name, index) => {
    const bytes = Buffer.byteLength(name);
    if (bytes > MAX_NAME_BYTES) throw invalidArgument(`name ${index} is ${bytes} bytes long (${quoteInput(name)}); names are at most ${MAX_NAME_BYTES} bytes (UTF-8)`);
  });
}

/** One name's answer; a bad or missing name is an answer with its reason, not a failed call. */
export async function checkOne(modelsDir: string, name: string, withSha256: boolean): Promise<Answer> {
  const problem = (error: string): Answer => ({ error, size: 0, sha256: '' });
  try {
    const file = await resolveInside(modelsDir, name);
    const stats = await fs.stat(file);
    if (!stats.isFile()) return { error: '', size: 0, sha256: '' };
    return { error: '', size: stats.size, sha256: withSha256 ? await fileSha256(file, stats) : '' };
  } catch (error) {
    if (error instanceof ServiceError) return problem(error.message);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return problem('not found');
    if (code === 'EACCES' || code === 'EPERM') return problem('not readable by the server');
    const refused = code === undefined ? undefined : diskProblem(name, code);
    if (refused) return problem(refused.message);
    throw error;
  }
}
