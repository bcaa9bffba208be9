import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { Metadata, status } from '@grpc/grpc-js';

import { STAGING_DIR } from '../../src/server/models-dir.js';
import { echo, grpcError, sha256, upload, uploadBytes } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

const LIMIT = 1024 * 1024;

describe('UploadFile', () => {
  let t: TestServer;
  let models: string;
  let outside: string;
  before(async () => {
    t = await startTestServer({ maxUploadSize: String(LIMIT) });
    models = t.settings.modelsDir;
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-outside-'));
  });
  after(async () => {
    await t.stop();
    fs.rmSync(outside, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const entry of fs.readdirSync(models)) fs.rmSync(path.join(models, entry), { recursive: true, force: true });
    fs.symlinkSync(outside, path.join(models, 'escape'));
  });

  /** Nothing but the files named (and the escape link) is in the models directory. */
  function assertModelFiles(expected: string[]) {
    assert.deepEqual(listFiles(models).filter((f) => f !== 'escape'), expected.sort());
    assert.deepEqual(listFiles(outside), []);
  }

  it('stores a file in a subfolder, reporting its size and SHA-256', async () => {
    const data = crypto.randomBytes(300_000);
    const reply = await uploadBytes(t.client(), 'sd15/unet/model.onnx', data, { sha256: sha256(data), size: data.length });
    assert.equal(reply.message, `stored sd15/unet/model.onnx: ${data.length} bytes, sha256 ${sha256(data)}`);
    assert.deepEqual(fs.readFileSync(path.join(models, 'sd15/unet/model.onnx')), data);
    assertModelFiles(['sd15/unet/model.onnx']);
  });

  it('accepts data in the first message and no checksum, and replaces an existing file whole', async () => {
    await upload(t.client(), [{ filename: 'a.bin', data: Buffer.from('old contents, longer') }]);
    await upload(t.client(), [{ filename: 'a.bin', data: Buffer.from('new') }]);
    assert.equal(fs.readFileSync(path.join(models, 'a.bin'), 'utf8'), 'new');
  });

  it('discards an upload whose SHA-256 differs, with DATA_LOSS', async () => {
    const data = crypto.randomBytes(10_000);
    const error = await grpcError(uploadBytes(t.client(), 'bad.bin', data, { sha256: sha256(Buffer.from('other')) }));
    assert.equal(error.code, status.DATA_LOSS);
    assert.match(error.details, /sha256 mismatch/);
    assertModelFiles([]);
  });

  it('honours a checksum sent in the last message (hash-while-streaming clients)', async () => {
    const data = crypto.randomBytes(10_000);
    const ok = await upload(t.client(), [{ filename: 'late.bin' }, { data }, { sha256: sha256(data) }]);
    assert.match(ok.message, new RegExp(sha256(data)));
    const error = await grpcError(upload(t.client(), [{ filename: 'late-bad.bin', sha256: sha256(data) }, { data }, { sha256: sha256(Buffer.from('x')) }]));
    assert.equal(error.code, status.DATA_LOSS);
    assertModelFiles(['late.bin']);
  });

  it('discards an upload shorter or longer than its declared size, with DATA_LOSS', async () => {
    const data = crypto.randomBytes(1000);
    assert.equal((await grpcError(uploadBytes(t.client(), 'short.bin', data, { size: 2000 }))).code, status.DATA_LOSS);
    assert.equal((await grpcError(uploadBytes(t.client(), 'long.bin', data, { size: 500 }))).code, status.DATA_LOSS);
    assertModelFiles([]);
  });

  for (const [name, filename] of [
    ['a parent folder', '../evil.bin'],
    ['a nested parent folder', 'sd15/../../evil.bin'],
    ['an absolute path', '/tmp/evil.bin'],
    ['an empty name', ''],
    ['a backslash path', '..\\evil.bin'],
    ['the staging folder', `${STAGING_DIR}/x.part`],
    ['a symbolic link out of the models directory', 'escape/evil.bin'],
  ] as const) {
    it(`refuses ${name} with INVALID_ARGUMENT, writes nothing, and keeps answering`, async () => {
      const error = await grpcError(uploadBytes(t.client(), filename, Buffer.from('data')));
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.match(error.details, /invalid path/);
      assertModelFiles([]);
      assert.equal((await echo(t.client())).message, 'HELLO');
    });
  }

  it('refuses an empty stream and a malformed sha256 with INVALID_ARGUMENT', async () => {
    assert.equal((await grpcError(upload(t.client(), []))).code, status.INVALID_ARGUMENT);
    assert.equal((await grpcError(upload(t.client(), [{ filename: 'x', sha256: 'abc' }]))).code, status.INVALID_ARGUMENT);
    assertModelFiles([]);
  });

  it('refuses uploads over the limit with RESOURCE_EXHAUSTED, declared or not', async () => {
    const declared = await grpcError(upload(t.client(), [{ filename: 'big.bin', size: LIMIT + 1 }]));
    assert.equal(declared.code, status.RESOURCE_EXHAUSTED);
    assert.match(declared.details, /--max-upload-size/);
    const streamed = await grpcError(uploadBytes(t.client(), 'big.bin', crypto.randomBytes(LIMIT + 1)));
    assert.equal(streamed.code, status.RESOURCE_EXHAUSTED);
    assertModelFiles([]);
  });

  it('refuses to replace a folder with a file (FAILED_PRECONDITION)', async () => {
    fs.mkdirSync(path.join(models, 'sd15'));
    const error = await grpcError(uploadBytes(t.client(), 'sd15', Buffer.from('x')));
    assert.equal(error.code, status.FAILED_PRECONDITION);
    assertModelFiles([]);
  });

  it('leaves nothing behind when the client goes away mid-stream', async () => {
    const c = t.client();
    const stream = c.service.uploadFile(new Metadata(), () => undefined);
    stream.on('error', () => undefined);
    stream.write({ filename: 'partial/model.onnx', data: crypto.randomBytes(200_000), sha256: '', size: 0 });
    stream.write({ filename: '', data: crypto.randomBytes(200_000), sha256: '', size: 0 });
    // Wait until the server is writing the staging file, then vanish.
    await waitUntil(() => listFiles(path.join(models, STAGING_DIR)).length === 1);
    stream.cancel();
    await waitUntil(() => listFiles(path.join(models, STAGING_DIR)).length === 0);
    assertModelFiles([]);
    assert.ok(!fs.existsSync(path.join(models, 'partial')), 'no folder is created for an upload that never finished');
    assert.equal((await echo(t.client())).message, 'HELLO');
  });

  it('keeps two concurrent uploads to one name apart: the file ends up whole, one or the other', async () => {
    const a = crypto.randomBytes(400_000);
    const b = crypto.randomBytes(400_000);
    const [ra, rb] = await Promise.all([uploadBytes(t.client(), 'same.bin', a, { sha256: sha256(a) }, 16 * 1024), uploadBytes(t.client(), 'same.bin', b, { sha256: sha256(b) }, 16 * 1024)]);
    assert.match(ra.message, new RegExp(sha256(a)));
    assert.match(rb.message, new RegExp(sha256(b)));
    const stored = sha256(fs.readFileSync(path.join(models, 'same.bin')));
    assert.ok(stored === sha256(a) || stored === sha256(b), 'the stored file is a mix of both uploads');
    assertModelFiles(['same.bin']);
  });
});
