import fs from 'node:fs/promises';

import type { FilesExistRequest, FilesExistResponse } from '../../generated/image_generation.js';
import { invalidArgument, ServiceError } from '../errors.js';
import { resolveInside } from '../models-dir.js';

/** Bounds one request's work; a client checking a whole model needs a few dozen names. */
export const MAX_FILES_PER_REQUEST = 10_000;

/**
 * Answers in parallel arrays, one entry per requested name in request order. A bad name is not a
 * failed call: its entry says why ("invalid path: …"), so one typo does not hide the other answers.
 */
export function filesExist(modelsDir: string) {
  return async (request: FilesExistRequest): Promise<FilesExistResponse> => {
    if (request.files.length > MAX_FILES_PER_REQUEST) {
      throw invalidArgument(`too many names (${request.files.length}); ask for at most ${MAX_FILES_PER_REQUEST} per call`);
    }
    const answers = await Promise.all(request.files.map((name) => checkOne(modelsDir, name)));
    return { files: [...request.files], exists: answers.map((error) => error === ''), errors: answers };
  };
}

async function checkOne(modelsDir: string, name: string): Promise<string> {
  try {
    await fs.stat(await resolveInside(modelsDir, name));
    return '';
  } catch (error) {
    if (error instanceof ServiceError) return error.message;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'not found';
    if (code === 'EACCES' || code === 'EPERM') return 'not readable by the server';
    throw error;
  }
}
