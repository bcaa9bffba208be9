import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';

import { Metadata } from '@grpc/grpc-js';

import type { ImageGenerationServiceClient, UploadFileRequest } from '../generated/image_generation.js';
import { ChunkFrame } from './upload-encoding.js';

/** Chunk size for UploadFile messages: big enough to amortise per-message cost, far below the 4 MiB default limit. */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;

/** Every field at its default; messages set the ones they carry. */
const NO_FIELDS: UploadFileRequest = { filename: '', data: Buffer.alloc(0), sha256: '', size: 0 };

export interface UploadResult {
  message: string;
  bytes: number;
  sha256: string;
}

export interface UploadOptions {
  deadlineMs?: number;
  /** Told the size of every chunk as it is handed to the stream (progress bars). */
  onBytes?: (bytes: number) => void;
  /** Aborting cancels the call: the server discards what it received. */
  signal?: AbortSignal;
}

/**
 * Streams a local file to the server as `remoteName`. The size goes in the first message (so an
 * oversized file is refused before any byte travels); the SHA-256 is computed while streaming and
 * sent in the last message, so the file is read once. Respects HTTP/2 flow control.
 */
export async function uploadLocalFile(client: ImageGenerationServiceClient, localPath: string, remoteName: string, options: UploadOptions = {}): Promise<UploadResult> {
  options.signal?.throwIfAborted();
  const { size } = await fs.promises.stat(localPath);
  const hash = crypto.createHash('sha256');
  let digest = '';
  // The server may answer before the stream ends (a refusal): stop reading and writing then.
  const stop = new AbortController();
  const deadline = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
  let call!: ReturnType<ImageGenerationServiceClient['uploadFile']>;
  const reply = new Promise<string>((resolve, reject) => {
    call = client.uploadFile(new Metadata(), deadline, (error, response) => {
      stop.abort();
      if (error) reject(error);
      else resolve(response.message);
    });
  });
  // Messages go as they are: a ChunkFrame message must reach the serializer as the same object.
  const send = async (message: UploadFileRequest, written?: () => void) => {
    if (!call.write(message, written)) {
      await once(call, 'drain', { signal: stop.signal });
    }
  };
  const onAbort = () => call.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // Read buffers come back for reuse once grpc-js reports a chunk written: by then it has framed
  // the chunk into its own buffer (its compression filter runs before any retry buffering or
  // send). Warm buffers matter: faulting in a fresh megabyte per chunk cost more than the copy.
  const frames: ChunkFrame[] = [];
  const stream = async () => {
    await send({ ...NO_FIELDS, filename: remoteName, size });
    const file = await fs.promises.open(localPath, 'r');
    try {
      // Exactly the size declared above: a file that grows meanwhile would not match it.
      for (let offset = 0; offset < size; ) {
        stop.signal.throwIfAborted();
        const frame = frames.pop() ?? new ChunkFrame(UPLOAD_CHUNK_BYTES);
        const { bytesRead } = await file.read(frame.dataArea, 0, Math.min(UPLOAD_CHUNK_BYTES, size - offset), offset);
        if (bytesRead === 0) throw new Error(`${localPath} shrank while it was being uploaded`);
        offset += bytesRead;
        const message = frame.message(bytesRead);
        hash.update(message.data);
        await send(message, () => frames.push(frame));
        options.onBytes?.(bytesRead);
      }
    } finally {
      await file.close();
    }
    digest = hash.digest('hex');
    await send({ ...NO_FIELDS, sha256: digest });
    call.end();
  };
  const streamed = stream().catch((error: unknown) => {
    // An abort because the server already answered is not the error to report: the reply is.
    if (stop.signal.aborted) return;
    call.cancel();
    throw error;
  });
  try {
    const [message] = await Promise.all([reply, streamed]);
    return { message, bytes: size, sha256: digest };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
