import fs from 'node:fs/promises';
import path from 'node:path';

import { isOptimizerCache } from '../diffusion/optimizer-cache-names.js';
import { isInside } from '../util/path-inside.js';
import { quoteInput } from '../util/quote-input.js';
import { invalidArgument, ServiceError } from './errors.js';

/** Where uploads are written before they are complete; never a valid name for clients. */
export const STAGING_DIR = '.dts-util-incoming';
/**
 * Longest client name, in UTF-8 bytes: a diffusers file name is a few dozen; the bound keeps a
 * request's names (and the paths built from them) small.
 */
export const MAX_NAME_BYTES = 1024;
/** NAME_MAX of Linux and macOS filesystems, which count bytes, not characters. */
const MAX_SEGMENT_BYTES = 255;
/** PATH_MAX: a longer absolute path fails with ENAMETOOLONG whatever its parts. */
const MAX_PATH_BYTES = 4095;

export function invalidPath(reason: string): ServiceError {
  return invalidArgument(`invalid path: ${reason}`);
}

/**
 * Checks a client-supplied name lexically and splits it into path segments. Names are relative,
 * '/'-separated, with no '.', '..' or empty segments, so they can never climb out of the models
 * directory by themselves (symbolic links are checked separately, against the disk).
 */
export function splitRelativeName(name: string): string[] {
  if (name.length === 0) throw invalidPath('the name is empty');
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) throw invalidPath(`${quoteInput(name)} is ${bytes} bytes long; names are at most ${MAX_NAME_BYTES} bytes (UTF-8)`);
  if (name.includes('\0')) throw invalidPath('the name contains a NUL character');
  if (name.includes('\\')) throw invalidPath(`${quoteInput(name)} contains '\\'; separate folders with '/'`);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw invalidPath(`${quoteInput(name)} is absolute; names are relative to the models directory`);
  const segments = name.split('/');
  for (const segment of segments) {
    if (segment === '..') throw invalidPath(`${quoteInput(name)} contains '..'; names must stay inside the models directory`);
    if (segment === '' || segment === '.') throw invalidPath(`${quoteInput(name)} has an empty or '.' folder name`);
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw invalidPath(`a folder or file name in ${quoteInput(name)} is longer than ${MAX_SEGMENT_BYTES} bytes (UTF-8; ENAMETOOLONG)`);
  }
  if (segments[0] === STAGING_DIR) throw invalidPath(`${STAGING_DIR} is reserved for uploads in progress`);
  // A client's file under that name would be loaded in place of the part it names.
  if (isOptimizerCache(segments.at(-1)!)) throw invalidPath(`${quoteInput(segments.at(-1)!)} is reserved for the server's optimized graphs`);
  return segments;
}

/**
 * Resolves a client name to an absolute path inside the models directory, refusing names that
 * leave it through a symbolic link anywhere along the way (the deepest part that exists is
 * resolved on disk). The target need not exist.
 */
export async function resolveInside(modelsDir: string, name: string): Promise<string> {
  const segments = splitRelativeName(name);
  const realRoot = await fs.realpath(modelsDir);
  const absolute = path.join(realRoot, ...segments);
  if (Buffer.byteLength(absolute) > MAX_PATH_BYTES) throw invalidPath(`${quoteInput(name)} makes a path longer than the server's limit of ${MAX_PATH_BYTES} bytes (ENAMETOOLONG)`);
  let probe = absolute;
  for (;;) {
    try {
      const real = await fs.realpath(probe);
      if (!isInside(realRoot, real)) throw invalidPath(`${quoteInput(name)} leads out of the models directory through a symbolic link`);
      return absolute;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const problem = code === undefined ? undefined : diskProblem(name, code);
      if (problem) throw problem;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      probe = path.dirname(probe);
    }
  }
}

/**
 * A name the filesystem refuses for a reason of the name's own (ELOOP, ENAMETOOLONG): the
 * client's mistake, said as such, not a server fault. Undefined for any other code.
 */
export function diskProblem(name: string, code: string): ServiceError | undefined {
  if (code === 'ELOOP') return invalidPath(`${quoteInput(name)} goes through a loop of symbolic links (ELOOP)`);
  if (code === 'ENAMETOOLONG') return invalidPath(`${quoteInput(name)} is too long for the server's filesystem (ENAMETOOLONG)`);
  return undefined;
}
