import crypto from 'node:crypto';

import { credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';

import {
  ImageGenerationServiceService,
  type EchoReply,
  type EchoRequest,
  type FileExistenceResponse,
  type FileListRequest,
  type FileUploadRequest,
  type ImageGenerationServiceClient,
  type UploadResponse,
} from '../../src/generated/draw_things_image_service.js';
import type { TestServer } from './test-server.js';

const DrawThingsClient = makeGenericClientConstructor(ImageGenerationServiceService, 'ImageGenerationService') as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createSsl>,
  options: Record<string, unknown>,
) => ImageGenerationServiceClient;

/**
 * A client of the Draw Things contract built from the generated code, over the test server's
 * real TLS (verified against the install's CA). It sends no metadata: this protocol's secret
 * travels in the requests.
 */
export function drawThingsClient(t: TestServer): ImageGenerationServiceClient {
  return new DrawThingsClient(t.address, credentials.createSsl(Buffer.from(t.caPem!)), { 'grpc.ssl_target_name_override': 'localhost' });
}

const deadline = () => ({ deadline: Date.now() + 30_000 });

export function dtEcho(client: ImageGenerationServiceClient, request: Partial<EchoRequest>): Promise<EchoReply> {
  return new Promise((resolve, reject) => client.echo({ name: '', ...request }, new Metadata(), deadline(), (error, reply) => (error ? reject(error) : resolve(reply))));
}

export function dtFilesExist(client: ImageGenerationServiceClient, request: Partial<FileListRequest>): Promise<FileExistenceResponse> {
  return new Promise((resolve, reject) => client.filesExist({ files: [], filesWithHash: [], ...request }, new Metadata(), deadline(), (error, reply) => (error ? reject(error) : resolve(reply))));
}

export interface DtUploadOutcome {
  responses: UploadResponse[];
  error?: ServiceError;
}

/** Sends `messages` on the app's bidirectional UploadFile and collects every answer, and the failure if there is one. */
export function dtUpload(client: ImageGenerationServiceClient, messages: FileUploadRequest[]): Promise<DtUploadOutcome> {
  return new Promise((resolve) => {
    const responses: UploadResponse[] = [];
    const call = client.uploadFile(new Metadata(), deadline());
    call.on('data', (response: UploadResponse) => responses.push(response));
    call.on('error', (error: ServiceError) => resolve({ responses, error }));
    call.on('end', () => resolve({ responses }));
    for (const message of messages) call.write(message);
    call.end();
  });
}

/** The messages the app sends for one file: initRequest, then chunks of `chunkBytes` at their offsets. */
export function dtUploadMessages(filename: string, content: Buffer, chunkBytes: number, sharedSecret?: string): FileUploadRequest[] {
  const sha256 = crypto.createHash('sha256').update(content).digest();
  const messages: FileUploadRequest[] = [{ initRequest: { filename, sha256, totalSize: content.length }, chunk: undefined, sharedSecret }];
  for (let offset = 0; offset < content.length; offset += chunkBytes) {
    messages.push({ initRequest: undefined, chunk: { content: content.subarray(offset, offset + chunkBytes), filename, offset }, sharedSecret });
  }
  return messages;
}
