import fs from 'node:fs/promises';
import path from 'node:path';

import { invalidArgument, ServiceError } from './errors.js';

/** Where uploads are written before they are complete; never a valid name for clients. */
export const STAGING_DIR = '.dts-util-incoming';
const MAX_NAME_LENGTH = 4096;
const MAX_SEGMENT_LENGTH = 255;

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
  if (name.length > MAX_NAME_LENGTH) throw invalidPath(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  if (name.includes('\0')) throw invalidPath('the name contains a NUL character');
  if (name.includes('\\')) throw invalidPath(`${JSON.stringify(name)} contains '\\'; separate folders with '/'`);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw invalidPath(`${JSON.stringify(name)} is absolute; names are relative to the models directory`);
  const segments = name.split('/');
  for (const segment of segments) {
    if (segment === '..') throw invalidPath(`${JSON.stringify(name)} contains '..'; names must stay inside the models directory`);
    if (segment === '' || segment === '.') throw invalidPath(`${JSON.stringify(name)} has an empty or '.' folder name`);
    if (segment.length > MAX_SEGMENT_LENGTH) throw invalidPath(`a folder or file name in ${JSON.stringify(name)} is longer than ${MAX_SEGMENT_LENGTH} characters`);
  }
  if (segments[0] === STAGING_DIR) throw invalidPath(`${STAGING_DIR} is reserved for uploads in progress`);
  return segments;
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
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
  let probe = absolute;
  for (;;) {
    try {
      const real = await fs.realpath(probe);
      if (!isInside(realRoot, real)) throw invalidPath(`${JSON.stringify(name)} leads out of the models directory through a symbolic link`);
      return absolute;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      probe = path.dirname(probe);
    }
  }
}
