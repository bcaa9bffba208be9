import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status, type ServiceError } from '@grpc/grpc-js';

import { uploadLocalFile, UPLOAD_CHUNK_BYTES } from '../../src/client/upload.js';
import { sha256 } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';

describe('uploadLocalFile (the client side of UploadFile)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ maxUploadSize: '24MiB' });
  });
  after(() => t.stop());

  it('streams a multi-chunk file over TLS, checksum sent last, and the server stores it byte for byte', async () => {
    const local = path.join(t.home, 'local.bin');
    // Enough chunks that read buffers are reused: one refilled too early would change the bytes.
    const data = crypto.randomBytes(20 * UPLOAD_CHUNK_BYTES + 12345);
    fs.writeFileSync(local, data);
    const result = await uploadLocalFile(t.client().service, local, 'sd15/unet/model.onnx_data');
    assert.equal(result.sha256, sha256(data));
    assert.equal(result.bytes, data.length);
    assert.equal(result.message, `stored sd15/unet/model.onnx_data: ${data.length} bytes, sha256 ${sha256(data)}`);
    assert.deepEqual(fs.readFileSync(path.join(t.settings.modelsDir, 'sd15/unet/model.onnx_data')), data);
  });

  it('is refused before sending data when the file is over the server limit', async () => {
    const local = path.join(t.home, 'big.bin');
    fs.writeFileSync(local, Buffer.alloc(25 * 2 ** 20));
    await assert.rejects(uploadLocalFile(t.client().service, local, 'big.bin'), (e: ServiceError) => e.code === status.RESOURCE_EXHAUSTED);
    assert.ok(!listFiles(t.settings.modelsDir).includes('big.bin'));
  });
});
