import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { unaryCall } from '../../src/client/client.js';
import { decodeOwnPng } from '../../src/diffusion/png.js';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Debian's python3-grpcio lives with the system interpreter, not whatever python3 is first on PATH. */
const PYTHON = '/usr/bin/python3';
const SECRET = 'interop-secret-93ac';

describe('interoperability with Python grpcio (Debian python3-grpcio)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({}, { DTS_UTIL_SHARED_SECRET: SECRET });
    fs.mkdirSync(path.join(t.settings.modelsDir, 'sd15'), { recursive: true });
    fs.writeFileSync(path.join(t.settings.modelsDir, 'sd15', 'model_index.json'), '{}');
  });
  after(() => t.stop());

  it('calls Echo and FilesExist over TLS verified against the install CA, with the secret (both contracts), and the app\'s GenerateImage', async () => {
    const script = path.join(PACKAGE_ROOT, 'test', 'interop', 'python_client.py');
    const caFile = path.join(t.settings.paths.tlsDir, 'ca.pem');
    // The Draw Things contract as a descriptor set: Debian's grpc_tools cannot compile proto3 optional.
    const descriptors = path.join(t.home, 'protos.binpb');
    await promisify(execFile)(path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'buf'), ['build', '--output', descriptors], { cwd: PACKAGE_ROOT, timeout: 60_000 });
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(PYTHON, [script, path.join(PACKAGE_ROOT, 'proto'), t.address, caFile, 'sd15/model_index.json', 'nope.onnx', '../x'], {
        env: { ...process.env, DTS_UTIL_SHARED_SECRET: SECRET, DTS_INTEROP_DESCRIPTORS: descriptors },
        timeout: 60_000,
      }));
    } catch (error) {
      throw new Error(`the Python client failed (needs Debian's python3-grpcio and python3-grpc-tools: .ci/run installs them): ${(error as Error).message}`);
    }
    const reply = JSON.parse(stdout);
    assert.equal(reply.echo, 'HELLO');
    assert.deepEqual(reply.files, ['sd15/model_index.json', 'nope.onnx', '../x']);
    assert.deepEqual(reply.exists, [true, false, false]);
    assert.equal(reply.errors[1], 'not found');
    assert.match(reply.errors[2], /^invalid path: /);
    assert.equal(reply.without_secret, 'UNAUTHENTICATED');
    // The Draw Things app's contract, on the same port, secret in the request.
    assert.equal(reply.dt_message, 'HELLO python');
    assert.ok(reply.dt_files.includes('smoke'), reply.dt_files.join(', '));
    assert.ok(reply.dt_models.some((m: { file: string; version: string }) => m.file === 'smoke' && m.version === 'v1'));
    assert.ok(reply.dt_server_identifier > 0);
    assert.deepEqual(reply.dt_secret_missing, [false, true]);
    // FilesExist over the same names plus the built-in model; hashes cross as raw 32-byte SHA-256.
    assert.deepEqual(reply.dt_existences, [true, true, false, false]);
    assert.deepEqual(reply.dt_hashes, ['', crypto.createHash('sha256').update('{}').digest('hex'), '', '']);
    // GenerateImage from a configuration Python's FlatBuffers library built by slot number: the
    // app's signposts, the tensor header, and the seed contract's picture for the same settings.
    assert.deepEqual(reply.dt_signposts, ['textEncoded', 'sampling', 'sampling', 'imageDecoded']);
    assert.deepEqual(reply.dt_header, [0, 1, 2, 0x20000, 0, 1, 64, 64, 3]);
    const connection = t.client({ sharedSecret: SECRET });
    const seed = await unaryCall(connection.service, connection.service.generateImage, request({ model: 'smoke', steps: 2, seed: 42, cfgScale: 7, sampler: 'Euler a' }), 120_000);
    // UploadFile as the app's uploader streams it: every chunk acknowledged; a missing chunk is DATA_LOSS, and nothing is stored.
    assert.deepEqual(reply.dt_upload, { offsets: [0, 1000, 2000, 2560, 2560], status: 'OK' });
    assert.equal(fs.readFileSync(path.join(t.settings.modelsDir, 'python-upload.bin')).length, 2560);
    assert.equal(reply.dt_upload_gap.status, 'DATA_LOSS');
    assert.ok(!fs.existsSync(path.join(t.settings.modelsDir, 'python-gap.bin')));
    assert.equal(reply.dt_rgb_sha256, crypto.createHash('sha256').update(decodeOwnPng(seed.images[0]!).rgb).digest('hex'));
  });
});
