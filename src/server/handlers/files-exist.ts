import type { FilesExistRequest, FilesExistResponse } from '../../generated/image_generation.js';
import { mapLimited } from '../../util/map-limited.js';
import { checkBounds, checkOne, CHECKS_IN_FLIGHT } from '../file-check.js';

/**
 * Answers in parallel arrays, one entry per requested name in request order. A bad name is not a
 * failed call: its entry says why ("invalid path: …"), so one typo does not hide the other answers.
 * Only a request over the bounds (too many names, a name over MAX_NAME_BYTES) is refused whole.
 * Sizes always come back (a stat is free); SHA-256 digests only when asked for (a full read).
 */
export function filesExist(modelsDir: string) {
  return async (request: FilesExistRequest): Promise<FilesExistResponse> => {
    checkBounds(request.files);
    const answers = await mapLimited(request.files, CHECKS_IN_FLIGHT, (name) => checkOne(modelsDir, name, request.withSha256));
    return {
      files: [...request.files],
      exists: answers.map((a) => a.error === ''),
      errors: answers.map((a) => a.error),
      sizes: answers.map((a) => a.size),
      sha256: answers.map((a) => a.sha256),
    };
  };
}
