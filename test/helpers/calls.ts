import crypto from 'node:crypto';

import { Metadata, type ServiceError } from '@grpc/grpc-js';

import { unaryCall, type Connection } from '../../src/client/client.js';
import type { UploadFileRequest, UploadFileResponse } from '../../src/generated/image_generation.js';

export const echo = (c: Connection) => unaryCall(c.service, c.service.echo, {}, 10_000);
export const filesExist = (c: Connection, files: string[], withSha256 = false) => unaryCall(c.service, c.service.filesExist, { files, withSha256 }, 10_000);

/** Sends an upload as the given messages (defaults filled in) and resolves with the reply. */
export function upload(c: Connection, messages: Partial<UploadFileRequest>[]): Promise<UploadFileResponse> {
  return new Promise((resolve, reject) => {
    const stream = c.service.uploadFile(new Metadata(), { deadline: Date.now() + 60_000 }, (error, response) => (error ? reject(error) : resolve(response)));
    for (const m of messages) stream.write({ filename: '', data: Buffer.alloc(0), sha256: '', size: 0, ...m });
    stream.end();
  });
}

/** One file as a first message plus data chunks. */
export function uploadBytes(c: Connection, filename: string, data: Buffer, extra: Partial<UploadFileRequest> = {}, chunk = 64 * 1024): Promise<UploadFileResponse> {
  const messages: Partial<UploadFileRequest>[] = [{ filename, ...extra }];
  for (let offset = 0; offset < data.length; offset += chunk) messages.push({ data: data.subarray(offset, offset + chunk) });
  return upload(c, messages);
}

export const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/** Awaits a call that must fail, and returns its gRPC error. */
export async function grpcError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
