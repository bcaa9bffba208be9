import { status } from '@grpc/grpc-js';

import type { FileExistenceResponse, FileListRequest } from '../../generated/draw_things_image_service.js';
import { mapLimited } from '../../util/map-limited.js';
import { ServiceError } from '../errors.js';
import { checkBounds, checkOne, CHECKS_IN_FLIGHT } from '../file-check.js';
import type { ModelAliases } from '../../config/model-aliases.js';
import { offeredModels, offeredNames } from './model-offer.js';
import { DRAW_THINGS_SECRET_REFUSAL } from './shared-secret.js';

export interface DrawThingsFilesExistOptions {
  modelsDir: string;
  aliases: () => ModelAliases;
  secretMatches: (given: string | undefined) => boolean;
}

/**
 * The app's FilesExist: parallel arrays over `files`; a name also in `filesWithHash` gets the
 * raw 32-byte SHA-256 of its file (empty when there is no file to hash), like the app, which
 * ignores names that are only in `filesWithHash`. A model name Echo offers (an alias too) exists (it may be a
 * folder, or built in); any other name is checked inside the models directory by the seed's rules,
 * and a bad name is simply `false`. Without the right secret the whole call is UNAUTHENTICATED.
 */
export function drawThingsFilesExist({ modelsDir, aliases, secretMatches }: DrawThingsFilesExistOptions) {
  return async (request: FileListRequest): Promise<FileExistenceResponse> => {
    if (!secretMatches(request.sharedSecret)) {
      throw new ServiceError(status.UNAUTHENTICATED, DRAW_THINGS_SECRET_REFUSAL);
    }
    checkBounds(request.files);
    checkBounds(request.filesWithHash);
    const offered = new Set(offeredNames(offeredModels(modelsDir), aliases()));
    const withHash = new Set(request.filesWithHash);
    const answers = await mapLimited(request.files, CHECKS_IN_FLIGHT, async (name) => {
      const answer = await checkOne(modelsDir, name, withHash.has(name));
      return { exists: offered.has(name) || answer.error === '', hash: Buffer.from(answer.sha256, 'hex') };
    });
    return { files: [...request.files], existences: answers.map((a) => a.exists), hashes: answers.map((a) => a.hash) };
  };
}
