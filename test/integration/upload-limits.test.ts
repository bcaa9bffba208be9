import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Metadata, status, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';

import type { Connection } from '../../src/client/client.js';
import type { UploadFileRequest } from '../../src/generated/image_generation.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { echo, grpcError, uploadBytes } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

/** An upload that sends its first message and then nothing, without closing: a stalled client. */
function stalledUpload(c: Connection, filename: string): { stream: ClientWritableStream<UploadFileRequest>; outcome: Promise<ServiceError> } {
  let stream!: ClientWritableStream<UploadFileRequest>;
  const outcome = new Promise<ServiceError>((resolve, reject) => {
    stream = c.service.uploadFile(new Metadata(), { deadline: Date.now() + 60_000 }, (error) => (error ? resolve(error) : reject(new Error('the stalled upload was stored'))));
  });
  stream.write({ filename, data: crypto.randomBytes(100_000), sha256: '', size: 0 });
  return { stream, outcome };
}

const stagingFiles = (t: TestServer) => listFiles(path.join(t.settings.modelsDir, STAGING_DIR)).filter((f) => f.endsWith('.part'));

/** This process's descriptors open on files in `dir` (the server runs in this process). */
function descriptorsInto(dir: string): string[] {
  return fs
    .readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return fs.readlinkSync(path.join('/proc/self/fd', fd));
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(dir));
}

describe('UploadFile: an upload that stops sending', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ uploadIdleTimeout: 1 });
  });
  after(() => t.stop());

  it('ends with DEADLINE_EXCEEDED after the idle timeout, and leaves no staging file or open descriptor', async () => {
    const { stream, outcome } = stalledUpload(t.client(), 'stalled/model.onnx');
    const error = await outcome;
    stream.cancel();
    assert.equal(error.code, status.DEADLINE_EXCEEDED, error.details);
    assert.match(error.details, /the upload was idle for 1 s \(the server's --upload-idle-timeout\)/);
    assert.deepEqual(stagingFiles(t), []);
    assert.deepEqual(descriptorsInto(fs.realpathSync(t.settings.modelsDir)), []);
    assert.ok(!fs.existsSync(path.join(t.settings.modelsDir, 'stalled')));
    assert.equal((await echo(t.client())).message, 'HELLO');
  });
});

describe('UploadFile: concurrent uploads', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ maxConcurrentUploads: 2 });
  });
  after(() => t.stop());

  it('refuses one over --max-concurrent-uploads with RESOURCE_EXHAUSTED, and takes it once a slot is free', async () => {
    const held = [stalledUpload(t.client(), 'one.bin'), stalledUpload(t.client(), 'two.bin')];
    await waitUntil(() => stagingFiles(t).length === 2);
    const refused = await grpcError(uploadBytes(t.client(), 'three.bin', Buffer.from('three')));
    assert.equal(refused.code, status.RESOURCE_EXHAUSTED, refused.details);
    assert.match(refused.details, /already receiving 2 uploads.*--max-concurrent-uploads/);
    for (const h of held) h.stream.cancel();
    for (const h of held) assert.equal((await h.outcome).code, status.CANCELLED);
    await waitUntil(() => stagingFiles(t).length === 0);
    assert.match((await uploadBytes(t.client(), 'three.bin', Buffer.from('three'))).message, /^stored three.bin/);
  });
});
