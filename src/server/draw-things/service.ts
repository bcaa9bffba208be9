import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

import { ImageGenerationServiceService, type HoursResponse, type ImageGenerationServiceServer, type PubkeyResponse } from '../../generated/draw_things_image_service.js';
import type { UploadFileRequest, UploadFileResponse } from '../../generated/image_generation.js';
import { readModelAliases, type ModelAliases } from '../../config/model-aliases.js';
import { DRAW_THINGS_PROTO_FILE, DRAW_THINGS_SERVICE_NAME } from '../../util/package-root.js';
import type { ClientStreamHandler, HandlerAdapter } from '../adapt.js';
import type { GenerateOptions } from '../handlers/generate-image.js';
import { withExplainedDecodeErrors } from '../request-decoding.js';
import { drawThingsEcho } from './echo.js';
import { drawThingsFilesExist } from './files-exist.js';
import { drawThingsGenerateImage } from './generate-image.js';
import { secretChecker } from './shared-secret.js';
import { newServerIdentifier } from './server-identifier.js';
import { drawThingsUploadFile } from './upload-file.js';

/** Every path of the Draw Things contract starts so (no package): the seed's metadata check lets them through. */
export const DRAW_THINGS_PATH_PREFIX = `/${DRAW_THINGS_SERVICE_NAME}/`;

export interface DrawThingsServiceOptions {
  adapter: HandlerAdapter;
  /** The seed's engine, models directory and metrics: both contracts share one queue. */
  generation: GenerateOptions;
  /** Where config.json (and its model aliases) lives. */
  configDir: string;
  sharedSecret: string | undefined;
  /** The seed's upload receiver, so uploads on either contract share one set of limits. */
  receiveUpload: ClientStreamHandler<UploadFileRequest, UploadFileResponse>;
}

/** Serves the Draw Things app's own `ImageGenerationService` beside the seed's, on the same port. */
export function addDrawThingsService(server: Server, { adapter, generation, configDir, sharedSecret, receiveUpload }: DrawThingsServiceOptions): void {
  const secretMatches = secretChecker(sharedSecret);
  const { modelsDir } = generation;
  const aliases = () => currentAliases(configDir);
  const implementation: ImageGenerationServiceServer = {
    echo: adapter.unary('DrawThings/Echo', drawThingsEcho({ modelsDir, aliases, serverIdentifier: newServerIdentifier(), secretMatches })),
    filesExist: adapter.unary('DrawThings/FilesExist', drawThingsFilesExist({ modelsDir, aliases, secretMatches })),
    uploadFile: adapter.bidiStream('DrawThings/UploadFile', drawThingsUploadFile({ receive: receiveUpload, secretMatches })),
    generateImage: adapter.serverStream('DrawThings/GenerateImage', drawThingsGenerateImage({ ...generation, aliases, secretMatches })),
    // The app's cloud proxy asks these for its key and its compute limits; a server of its own has
    // neither, so both answer empty (nothing to protect: no secret needed).
    pubkey: adapter.unary('DrawThings/Pubkey', async (): Promise<PubkeyResponse> => ({ message: '', pubkey: '' })),
    hours: adapter.unary('DrawThings/Hours', async (): Promise<HoursResponse> => ({ thresholds: undefined })),
  };
  const described = loadSync(DRAW_THINGS_PROTO_FILE, { keepCase: true });
  server.addService(withExplainedDecodeErrors(ImageGenerationServiceService, described, DRAW_THINGS_SERVICE_NAME), implementation);
}

/** The aliases config.json holds now; a config.json broken while the server runs means none, not failed calls. */
function currentAliases(configDir: string): ModelAliases {
  try {
    return readModelAliases(configDir);
  } catch {
    return {};
  }
}
