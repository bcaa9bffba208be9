import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { credentials, loadPackageDefinition, type Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

import { startTestServer, type TestServer } from '../helpers/test-server.js';

// The reflection protocol as grpcurl speaks it, from the proto that @grpc/reflection ships.
const reflectionProto = path.join(path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');

describe('server reflection', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ tls: false }, { DTS_UTIL_SHARED_SECRET: 'reflection-is-open' });
  });
  after(() => t.stop());

  it('lists the service and serves its file descriptor, without the secret (as grpcurl list/describe need)', async () => {
    const pkg = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client & { ServerReflectionInfo(): NodeJS.ReadWriteStream & { write(m: unknown): void } } } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(t.address, credentials.createInsecure());
    try {
      const call = client.ServerReflectionInfo();
      const replies: Record<string, unknown>[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (m: Record<string, unknown>) => replies.push(m));
        call.on('end', resolve);
        call.on('error', reject);
      });
      call.write({ list_services: '' });
      call.write({ file_containing_symbol: 'drawthings.ImageGenerationService' });
      call.write({ file_containing_symbol: 'ImageGenerationService' });
      call.end();
      await done;
      const services = (replies[0] as { list_services_response: { service: { name: string }[] } }).list_services_response.service.map((s) => s.name);
      assert.ok(services.includes('drawthings.ImageGenerationService'), services.join(', '));
      assert.ok(services.includes('grpc.health.v1.Health'), services.join(', '));
      // The Draw Things app's contract, unpackaged, is listed beside the seed's.
      assert.ok(services.includes('ImageGenerationService'), services.join(', '));
      const files = (replies[1] as { file_descriptor_response: { file_descriptor_proto: Buffer[] } }).file_descriptor_response.file_descriptor_proto;
      assert.ok(files.some((f) => f.includes('ImageGenerationService') && f.includes('UploadFileRequest')));
      const drawThingsFiles = (replies[2] as { file_descriptor_response?: { file_descriptor_proto: Buffer[] } }).file_descriptor_response?.file_descriptor_proto ?? [];
      assert.ok(drawThingsFiles.some((f) => f.includes('FileExistenceResponse') && f.includes('sharedSecretMissing')), JSON.stringify(replies[2]).slice(0, 200));
    } finally {
      client.close();
    }
  });
});
