import { ChunkState, type ImageGenerationResponse } from '../../generated/draw_things_image_service.js';

/** The app's piece size for chunked images. */
export const IMAGE_CHUNK_BYTES = 4 * 2 ** 20;

/** A response with nothing set, to fill in (proto3 needs every repeated field present). */
export function emptyResponse(): ImageGenerationResponse {
  return { generatedImages: [], signposts: [], tags: [], chunkState: ChunkState.LAST_CHUNK };
}

/**
 * The responses that carry finished images, as the app's server sends them: first the total size
 * (`downloadSize`, for the client's progress bar), then each image in its own message. When the
 * client asked for `chunked` and the images total more than 4 MiB, each image goes in pieces of
 * at most 4 MiB, MORE_CHUNKS until the image's last piece (LAST_CHUNK): clients that do not ask
 * for chunks keep each image whole. Every image message carries the scale factor.
 */
export function imageResponses(images: readonly Buffer[], chunked: boolean, scaleFactor = 1): ImageGenerationResponse[] {
  const total = images.reduce((sum, image) => sum + image.length, 0);
  if (total === 0) return [{ ...emptyResponse(), scaleFactor }];
  const responses: ImageGenerationResponse[] = [{ ...emptyResponse(), downloadSize: total }];
  const pieceBytes = chunked && total > IMAGE_CHUNK_BYTES ? IMAGE_CHUNK_BYTES : Infinity;
  for (const image of images) {
    for (let at = 0; at < image.length; at += pieceBytes) {
      const last = at + pieceBytes >= image.length;
      responses.push({ ...emptyResponse(), generatedImages: [image.subarray(at, at + pieceBytes)], scaleFactor, chunkState: last ? ChunkState.LAST_CHUNK : ChunkState.MORE_CHUNKS });
    }
  }
  return responses;
}
