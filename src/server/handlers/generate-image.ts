import { status } from '@grpc/grpc-js';

import { hasVaeEncoder, VAE_ENCODER_FILE } from '../../diffusion/model-spec.js';
import { IncompleteModelError, ModelChoiceError, ModelNotFoundError, resolveModel } from '../../diffusion/model-catalog.js';
import { checkRequestText, InvalidRequestError, UnsupportedRequestError, validateRequest } from '../../diffusion/request.js';
import { resolveSampler, UnknownSamplerError } from '../../diffusion/samplers/registry.js';
import type { Engine, JobRequest } from '../../engine/engine.js';
import { GenerationError } from '../../engine/errors.js';
import type { GenerationResult, Progress } from '../../engine/messages.js';
import type { ImageGenerationProgress, ImageGenerationRequest, ImageGenerationResponse } from '../../generated/image_generation.js';
import type { CallContext } from '../call-context.js';
import { ServiceError } from '../errors.js';

export interface GenerateOptions {
  engine: Engine;
  modelsDir: string;
  defaultModel: string | undefined;
  /** Told each finished generation (metrics). */
  onGenerated?: (model: string, result: GenerationResult, requestId: string) => void;
}

const KIND_TO_STATUS: Record<GenerationError['kind'], status> = {
  not_found: status.NOT_FOUND,
  invalid: status.INVALID_ARGUMENT,
  unsupported: status.FAILED_PRECONDITION,
  cancelled: status.CANCELLED,
  // The client did nothing wrong: the same call succeeds on another server, or this one once back.
  shutting_down: status.UNAVAILABLE,
  too_large: status.RESOURCE_EXHAUSTED,
  internal: status.INTERNAL,
};

/** A checked job, before it is given a call's cancellation and progress. */
export type PreparedJob = Omit<JobRequest, 'signal' | 'onProgress'>;

/**
 * Request → checked job, or the error a client can act on (nothing is queued for a bad request).
 * What does not fit the memory budget is refused by engine.generate(), also before queueing.
 * The Draw Things contract's handler translates its requests into this one's and comes here too.
 */
export function prepareJob(request: ImageGenerationRequest, options: GenerateOptions): PreparedJob {
  try {
    checkRequestText(request);
    // The model first: its family decides the defaults (SDXL 1024², Turbo 1 step, LCM sampler),
    // and a folder that cannot work is refused here, before anything is queued.
    const model = resolveModel(options.modelsDir, request.model, options.defaultModel);
    const params = validateRequest(request, model.spec.defaults);
    params.sampler = resolveSampler(params.sampler).name;
    if (model.spec.inpainting && params.enableHr) {
      throw new UnsupportedRequestError(`model ${model.name} is an inpainting model, and the hires fix is not served on those; send the request without enable_hr`);
    }
    if (params.start && !hasVaeEncoder(model.dir)) {
      throw new UnsupportedRequestError(`model ${model.name} has no ${VAE_ENCODER_FILE}, which img2img and inpainting need to read the picture; pull the model again (models pull fetches it) or use one that has it`);
    }
    return { params: { ...params, model: model.name }, modelDir: model.dir, modelName: model.name };
  } catch (error) {
    throw toServiceError(error);
  }
}

export function toServiceError(error: unknown): unknown {
  if (error instanceof InvalidRequestError || error instanceof UnknownSamplerError || error instanceof ModelChoiceError) return new ServiceError(status.INVALID_ARGUMENT, error.message);
  if (error instanceof UnsupportedRequestError || error instanceof IncompleteModelError) return new ServiceError(status.FAILED_PRECONDITION, error.message);
  if (error instanceof ModelNotFoundError) return new ServiceError(status.NOT_FOUND, error.message);
  // Internal failures keep their details for the server log; toStatus() hides them from the client.
  if (error instanceof GenerationError && error.kind !== 'internal') return new ServiceError(KIND_TO_STATUS[error.kind], error.message);
  return error;
}

function toResponse(result: GenerationResult): ImageGenerationResponse {
  return { images: result.images.map((image) => Buffer.from(image.buffer, image.byteOffset, image.byteLength)), info: result.info, events: result.events };
}

/** Queues the job for this call (cancelled with it) and waits for its result, or the status its failure maps to. */
export async function runJob(job: PreparedJob, context: CallContext, options: GenerateOptions, onProgress?: (progress: Progress) => void): Promise<GenerationResult> {
  try {
    const result = await options.engine.generate({ ...job, signal: context.signal, onProgress });
    options.onGenerated?.(job.modelName, result, context.requestId);
    return result;
  } catch (error) {
    throw toServiceError(error);
  }
}

/** GenerateImage: validate, queue, wait, answer. */
export function generateImage(options: GenerateOptions) {
  return async (request: ImageGenerationRequest, context: CallContext): Promise<ImageGenerationResponse> =>
    toResponse(await runJob(prepareJob(request, options), context, options));
}

/** GenerateImageStream: the same, with a progress message per stage and step, then the result. */
export function generateImageStream(options: GenerateOptions) {
  return async (request: ImageGenerationRequest, context: CallContext, send: (message: ImageGenerationProgress) => void): Promise<void> => {
    const job = prepareJob(request, options);
    const result = await runJob(job, context, options, (p) =>
      send({ event: p.event, stage: p.stage, step: p.step, steps: p.steps, batch: p.batch, batches: p.batches, queuePosition: p.queuePosition, result: undefined }),
    );
    send({ event: 'done', stage: 'done', step: 0, steps: 0, batch: job.params.batchCount, batches: job.params.batchCount, queuePosition: 0, result: toResponse(result) });
  };
}
