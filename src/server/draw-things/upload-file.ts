import { status } from '@grpc/grpc-js';

import type { FileUploadRequest, UploadResponse } from '../../generated/draw_things_image_service.js';
import type { UploadFileRequest, UploadFileResponse } from '../../generated/image_generation.js';
import type { ClientStreamHandler } from '../adapt.js';
import type { CallContext } from '../call-context.js';
import { dataLoss, invalidArgument, ServiceError } from '../errors.js';
import { DRAW_THINGS_SECRET_REFUSAL } from './shared-secret.js';

export interface DrawThingsUploadOptions {
  /** The seed's UploadFile receiver: staging file, fsync, checks, rename; its limits are shared by both contracts. */
  receive: ClientStreamHandler<UploadFileRequest, UploadFileResponse>;
  secretMatches: (given: string | undefined) => boolean;
}

/** InitUploadRequest.sha256 is the raw digest. */
const SHA256_BYTES = 32;

/**
 * The app's UploadFile: an initRequest (file name, raw SHA-256, total size), then chunks at
 * explicit offsets, each answered with the offset received so far. The bytes go through the seed's
 * receiver, so a Draw Things upload gets the same guarantees (staged, fsynced, checked, renamed
 * into place whole; nothing left behind on any failure) and counts against the same limits.
 * As in the app: every message carries the secret; a chunk whose offset is not the next byte is
 * DATA_LOSS; a total other than the announced size is INVALID_ARGUMENT; a hash mismatch is DATA_LOSS.
 */
export function drawThingsUploadFile({ receive, secretMatches }: DrawThingsUploadOptions) {
  return async (requests: AsyncIterable<FileUploadRequest>, context: CallContext, send: (message: UploadResponse) => void): Promise<void> => {
    const progress = { filename: '', received: 0 };
    const stored = await receive(asSeedUpload(requests, secretMatches, send, progress), context);
    send({ chunkUploadSuccess: true, receivedOffset: progress.received, message: stored.message, filename: progress.filename });
  };
}

/**
 * The app's messages as the seed receiver's. A generator resumes only when the receiver asks for
 * the next message, which it does once the previous one is written: that is when a chunk is
 * acknowledged.
 */
async function* asSeedUpload(
  requests: AsyncIterable<FileUploadRequest>,
  secretMatches: (given: string | undefined) => boolean,
  send: (message: UploadResponse) => void,
  progress: { filename: string; received: number },
): AsyncGenerator<UploadFileRequest> {
  let totalSize: number | undefined;
  for await (const message of requests) {
    if (!secretMatches(message.sharedSecret)) throw new ServiceError(status.UNAUTHENTICATED, DRAW_THINGS_SECRET_REFUSAL);
    if (message.initRequest) {
      if (totalSize !== undefined) throw invalidArgument('initRequest may be sent only once, as the first message');
      const { filename, sha256 } = message.initRequest;
      totalSize = message.initRequest.totalSize;
      if (sha256.length !== SHA256_BYTES) throw invalidArgument(`initRequest.sha256 must be the file's raw SHA-256 (${SHA256_BYTES} bytes; got ${sha256.length})`);
      if (totalSize < 0) throw invalidArgument('initRequest.totalSize must not be negative');
      progress.filename = filename;
      yield { filename, data: Buffer.alloc(0), sha256: sha256.toString('hex'), size: totalSize };
      send({ chunkUploadSuccess: true, receivedOffset: 0, message: 'ready for the file\'s chunks', filename });
    } else if (message.chunk) {
      if (totalSize === undefined) throw invalidArgument('the first message must be an initRequest naming the file');
      const { content, offset } = message.chunk;
      if (message.chunk.filename && message.chunk.filename !== progress.filename) throw invalidArgument('a chunk names another file than the initRequest did');
      if (offset !== progress.received) throw dataLoss(`a chunk starts at offset ${offset}, but ${progress.received} bytes were received so far; nothing was stored`);
      yield { filename: '', data: content, sha256: '', size: 0 };
      progress.received += content.length;
      send({ chunkUploadSuccess: true, receivedOffset: progress.received, message: '', filename: progress.filename });
    } else {
      throw invalidArgument('a message with neither initRequest nor chunk');
    }
  }
  if (totalSize === undefined) throw invalidArgument('empty upload: the first message must be an initRequest naming the file');
  if (progress.received !== totalSize) {
    throw invalidArgument(`received ${progress.received} bytes, but initRequest.totalSize announced ${totalSize}; nothing was stored`);
  }
}
