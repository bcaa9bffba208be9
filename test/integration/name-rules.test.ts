import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { echo, filesExist, grpcError, uploadBytes } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** UploadFile and FilesExist follow one rule for names: what one stores the other finds, what one refuses so does the other. */
describe('names: one rule for UploadFile and FilesExist', () => {
  let t: TestServer;
  let models: string;
  before(async () => {
    t = await startTestServer();
    models = t.settings.modelsDir;
    fs.symlinkSync('loop-b', path.join(models, 'loop-a'));
    fs.symlinkSync('loop-a', path.join(models, 'loop-b'));
    fs.writeFileSync(path.join(models, 'present.txt'), 'here');
  });
  after(() => t.stop());

  it('stores a name that merely starts with ".." and then finds it', async () => {
    await uploadBytes(t.client(), '..dotdot.txt', Buffer.from('dots'));
    await uploadBytes(t.client(), '..dir/..x', Buffer.from('more dots'));
    const reply = await filesExist(t.client(), ['..dotdot.txt', '..dir/..x']);
    assert.deepEqual(reply.exists, [true, true], reply.errors.join('; '));
    assert.deepEqual(reply.sizes, [4, 9]);
  });

  it('refuses "../x" in both', async () => {
    const error = await grpcError(uploadBytes(t.client(), '../x', Buffer.from('x')));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    const reply = await filesExist(t.client(), ['../x']);
    assert.equal(reply.exists[0], false);
    assert.match(reply.errors[0]!, /^invalid path: .*'\.\.'/);
  });

  // Each: [what, name, the reason the answer must give]
  const cases: [string, string, RegExp][] = [
    ['a loop of symbolic links', 'loop-a/model.onnx', /ELOOP/],
    ['a loop of symbolic links as the file itself', 'loop-a', /ELOOP/],
    // 200 characters, 400 bytes: under a character count, over the filesystem's 255-byte limit.
    ['a file name over 255 bytes in UTF-8', `${'é'.repeat(200)}.onnx`, /255 bytes/],
  ];
  for (const [what, name, reason] of cases) {
    it(`answers ${what} for that name alone in FilesExist, and INVALID_ARGUMENT in UploadFile`, async () => {
      const reply = await filesExist(t.client(), ['present.txt', name, 'missing.txt']);
      assert.deepEqual(reply.exists, [true, false, false]);
      assert.equal(reply.errors[0], '');
      assert.match(reply.errors[1]!, /^invalid path: /);
      assert.match(reply.errors[1]!, reason);
      assert.equal(reply.errors[2], 'not found');
      const error = await grpcError(uploadBytes(t.client(), name, Buffer.from('x')));
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.match(error.details, reason);
      assert.equal((await echo(t.client())).message, 'HELLO');
    });
  }
});

describe('names that make a path over PATH_MAX', () => {
  let t: TestServer;
  let deep: string;
  before(async () => {
    // A models directory 3,600 bytes deep: a 1000-byte name then makes a path over 4096 bytes.
    deep = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'dts-deep-'));
    t = await startTestServer({ modelPath: path.join(deep, ...Array.from({ length: 18 }, (_, i) => `${i}`.padEnd(200, 'd'))) });
  });
  after(async () => {
    await t.stop();
    fs.rmSync(deep, { recursive: true, force: true });
  });

  it('answers for that name alone in FilesExist, and INVALID_ARGUMENT in UploadFile', async () => {
    const name = Array.from({ length: 5 }, () => 'n'.repeat(199)).join('/');
    const reply = await filesExist(t.client(), [name, 'missing.txt']);
    assert.equal(reply.exists[0], false);
    assert.match(reply.errors[0]!, /^invalid path: .*ENAMETOOLONG/);
    assert.equal(reply.errors[1], 'not found');
    const error = await grpcError(uploadBytes(t.client(), name, Buffer.from('x')));
    assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
    assert.match(error.details, /ENAMETOOLONG/);
    assert.ok(error.details.length < 400, `the message repeats at most a prefix of the name: ${error.details.length} characters`);
  });
});
