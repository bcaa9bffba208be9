import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { echo, filesExist, grpcError } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('FilesExist', () => {
  let t: TestServer;
  let outside: string;
  before(async () => {
    t = await startTestServer();
    const models = t.settings.modelsDir;
    fs.mkdirSync(path.join(models, 'sd15', 'unet'), { recursive: true });
    fs.writeFileSync(path.join(models, 'sd15', 'unet', 'model.onnx'), 'x');
    fs.writeFileSync(path.join(models, 'sd15', 'model_index.json'), '{}');
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-outside-'));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'nope');
    fs.symlinkSync(outside, path.join(models, 'escape'));
    fs.symlinkSync(path.join(models, 'sd15'), path.join(models, 'alias'));
  });
  after(async () => {
    await t.stop();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('answers parallel arrays in request order, with a reason for each missing or invalid name', async () => {
    const names = ['sd15/model_index.json', 'missing.onnx', 'sd15/unet/model.onnx', '../etc/passwd', '/etc/passwd', '', 'sd15/../sd15/model_index.json', 'escape/secret.txt', 'alias/unet/model.onnx', 'sd15', 'sd15/model_index.json/x'];
    const reply = await filesExist(t.client(), names);
    assert.deepEqual(reply.files, names);
    assert.deepEqual(reply.exists, [true, false, true, false, false, false, false, false, true, true, false]);
    assert.equal(reply.errors.length, names.length);
    assert.equal(reply.errors[0], '');
    assert.equal(reply.errors[1], 'not found');
    assert.equal(reply.errors[2], '');
    for (const i of [3, 4, 5, 6, 7]) assert.match(reply.errors[i]!, /^invalid path: /, `entry ${i}: ${reply.errors[i]}`);
    assert.match(reply.errors[7]!, /symbolic link/);
    assert.equal(reply.errors[8], '', 'a symlink that stays inside is fine');
    assert.equal(reply.errors[10], 'not found');
  });

  it('gives sizes always and SHA-256 digests only when asked (extension), and a changed file gets a new digest', async () => {
    const names = ['sd15/model_index.json', 'missing.onnx', 'sd15'];
    const plain = await filesExist(t.client(), names);
    assert.deepEqual(plain.sizes, [2, 0, 0]);
    assert.deepEqual(plain.sha256, ['', '', '']);
    const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
    assert.deepEqual((await filesExist(t.client(), names, true)).sha256, [sha('{}'), '', '']);
    assert.deepEqual((await filesExist(t.client(), ['sd15/unet/model.onnx'], true)).sha256, [sha('x')]);
    fs.writeFileSync(path.join(t.settings.modelsDir, 'sd15', 'unet', 'model.onnx'), 'changed');
    assert.deepEqual((await filesExist(t.client(), ['sd15/unet/model.onnx'], true)).sha256, [sha('changed')]);
  });

  it('answers an empty list with empty arrays', async () => {
    assert.deepEqual(await filesExist(t.client(), []), { files: [], exists: [], errors: [], sizes: [], sha256: [] });
  });

  it('refuses more than 1000 names with INVALID_ARGUMENT and keeps answering', async () => {
    const error = await grpcError(filesExist(t.client(), Array.from({ length: 1001 }, (_, i) => `f${i}`)));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /too many names \(1001\); ask for at most 1000 per call/);
    assert.equal((await echo(t.client())).message, 'HELLO');
  });

  it('answers 1000 names, each in its place', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 'sd15/model_index.json' : `missing-${i}.onnx`));
    const reply = await filesExist(t.client(), names);
    assert.deepEqual(reply.files, names);
    assert.deepEqual(reply.exists, names.map((_, i) => i % 2 === 0));
    assert.deepEqual(reply.sizes, names.map((_, i) => (i % 2 === 0 ? 2 : 0)));
  });

  it('refuses a name over 1024 bytes with INVALID_ARGUMENT, repeating only a short prefix of it', async () => {
    // 1025 bytes in 515 characters (each segment under 255 bytes): the limit counts UTF-8 bytes.
    const long = [...Array.from({ length: 4 }, () => 'é'.repeat(100)), `${'é'.repeat(110)}x`].join('/');
    const error = await grpcError(filesExist(t.client(), ['sd15/model_index.json', long]));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /name 1 is 1025 bytes long .*names are at most 1024 bytes/);
    assert.ok(error.details.length < 300, `the message is ${error.details.length} characters`);
    assert.equal((await filesExist(t.client(), [long.slice(0, -1)])).errors[0], 'not found', 'a 1024-byte name is answered');
  });
});
