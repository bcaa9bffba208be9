import { credentials, makeGenericClientConstructor, Metadata } from '@grpc/grpc-js';

import { ImageGenerationServiceService, type EchoReply, type EchoRequest, type FileExistenceResponse, type FileListRequest, type ImageGenerationServiceClient } from '../../src/generated/draw_things_image_service.js';
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
