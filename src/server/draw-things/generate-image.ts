import { status } from '@grpc/grpc-js';

import { decodeOwnPng } from '../../diffusion/png.js';
import { aliasHint, resolveAlias } from '../../config/model-aliases.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../generated/draw_things_image_service.js';
import type { CallContext } from '../call-context.js';
import { invalidArgument, ServiceError } from '../errors.js';
import { prepareJob, runJob, toServiceError, type GenerateOptions, type PreparedJob } from '../handlers/generate-image.js';
import { encodeImageTensor } from './ccv-tensor.js';
import { ConfigurationFormatError, readConfiguration } from './configuration.js';
import { toSeedRequest } from './generation-request.js';
import { emptyResponse, imageResponses } from './image-responses.js';
import { DRAW_THINGS_SECRET_REFUSAL } from './shared-secret.js';
import { expectedSignposts, signpostTracker } from './signposts.js';

export interface DrawThingsGenerateOptions extends GenerateOptions {
  secretMatches: (given: string | undefined) => boolean;
  /** The app's model file names → local models (`dts-util models alias`), read at each request so a new alias needs no restart. */
  aliases: () => Record<string, string>;
}

/**
 * The app's GenerateImage: the FlatBuffer configuration is read and translated into the seed's
 * request, which runs on the same engine and queue; each step the engine reports becomes a
 * signpost message, and the PNGs the pipeline makes go back as the app's fp16 tensors. A client
 * that goes away cancels its job (the call's signal), as the seed's calls do.
 */
export function drawThingsGenerateImage(options: DrawThingsGenerateOptions) {
  return async (request: ImageGenerationRequest, context: CallContext, send: (message: ImageGenerationResponse) => void): Promise<void> => {
    if (!options.secretMatches(request.sharedSecret)) throw new ServiceError(status.UNAUTHENTICATED, DRAW_THINGS_SECRET_REFUSAL);
    const job = prepare(request, options);
    const signposts = expectedSignposts(job.params);
    const signpostOf = signpostTracker(job.params);
    const result = await runJob(job, context, options, (progress) => {
      const currentSignpost = signpostOf(progress);
      if (currentSignpost) send({ ...emptyResponse(), currentSignpost, signposts });
    });
    const tensors = result.images.map((png) => {
      const { width, height, rgb } = decodeOwnPng(png);
      return encodeImageTensor(rgb, width, height);
    });
    for (const response of imageResponses(tensors, request.chunked)) send(response);
  };
}

function prepare(request: ImageGenerationRequest, options: DrawThingsGenerateOptions): PreparedJob {
  let seedRequest;
  let fileName = '';
  try {
    const config = readConfiguration(request.configuration);
    fileName = config.model;
    seedRequest = toSeedRequest(request, config, resolveAlias(options.aliases(), config.model));
  } catch (error) {
    if (error instanceof ConfigurationFormatError) throw invalidArgument(error.message);
    throw toServiceError(error);
  }
  try {
    return prepareJob(seedRequest, options);
  } catch (error) {
    // The app names models by its own file names: say how to point one at a local model.
    if (error instanceof ServiceError && error.code === status.NOT_FOUND && fileName) throw new ServiceError(status.NOT_FOUND, `${error.message}; ${aliasHint(fileName)}`);
    throw error;
  }
}
