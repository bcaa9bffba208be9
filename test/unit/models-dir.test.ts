import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { resolveInside, splitRelativeName } from '../../src/server/models-dir.js';
import { isInside } from '../../src/util/path-inside.js';
import { ServiceError } from '../../src/server/errors.js';
import { tempHome } from '../helpers/temp-home.js';

describe('model names', () => {
  it('splits good names into segments', () => {
    assert.deepEqual(splitRelativeName('model.onnx'), ['model.onnx']);
    assert.deepEqual(splitRelativeName('sd15/unet/model.onnx_data'), ['sd15', 'unet', 'model.onnx_data']);
    assert.deepEqual(splitRelativeName('..hidden/x'), ['..hidden', 'x']);
  });

  for (const bad of ['', '/abs', 'C:/win', 'a/../b', '..', 'a//b', './a', 'a/', 'a\\b', 'a\0b', `${'x'.repeat(256)}`, '.dts-util-incoming/x']) {
    it(`refuses ${JSON.stringify(bad.slice(0, 30))}`, () => {
      assert.throws(() => splitRelativeName(bad), (e: Error) => e instanceof ServiceError && e.message.startsWith('invalid path: '));
    });
  }

  it('counts only a ".." segment as leaving the root, not a name that starts with ".."', () => {
    assert.ok(isInside('/m', '/m/..dotdot.txt'));
    assert.ok(isInside('/m', '/m/..d/x'));
    assert.ok(isInside('/m', '/m'));
    assert.ok(!isInside('/m', '/'));
    assert.ok(!isInside('/m', '/other/x'));
  });

  it('counts a segment\'s length in UTF-8 bytes, as the filesystem does', () => {
    assert.deepEqual(splitRelativeName('é'.repeat(127)), ['é'.repeat(127)]);
    assert.throws(() => splitRelativeName('é'.repeat(128)), /255 bytes/);
  });

  const home = tempHome();
  after(() => home.cleanup());

  it('resolves names on disk, refusing symbolic links that lead out at any depth', async () => {
    const root = path.join(home.home, 'models');
    fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
    fs.symlinkSync('/', path.join(root, 'a', 'b', 'up'));
    fs.symlinkSync('../../..', path.join(root, 'a', 'rel'));
    fs.symlinkSync('b', path.join(root, 'a', 'inside'));
    const real = fs.realpathSync(root);
    assert.equal(await resolveInside(root, 'a/b/new/file'), path.join(real, 'a', 'b', 'new', 'file'));
    assert.equal(await resolveInside(root, 'a/inside/x'), path.join(real, 'a', 'inside', 'x'));
    await assert.rejects(resolveInside(root, 'a/b/up/etc/passwd'), /symbolic link/);
    await assert.rejects(resolveInside(root, 'a/b/up/does/not/exist'), /symbolic link/);
    await assert.rejects(resolveInside(root, 'a/rel/x'), /symbolic link/);
  });
});
