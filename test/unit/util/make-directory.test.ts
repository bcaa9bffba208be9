import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { makeDirectory, makeDirectorySync } from '../../../src/util/make-directory.js';
import { PACKAGE_ROOT } from '../../../src/util/package-root.js';
import { tempHome } from '../../helpers/temp-home.js';

const HELPER = new URL('../../../src/util/make-directory.js', import.meta.url).href;

describe('makeDirectory / makeDirectorySync (mkdir -p that always ends)', () => {
  const home = tempHome();
  after(() => home.cleanup());

  for (const [name, make] of [
    ['sync', async (dir: string, mode?: number) => makeDirectorySync(dir, mode)],
    ['async', makeDirectory],
  ] as const) {
    it(`${name}: makes every missing folder with the mode, and accepts one that exists`, async () => {
      const dir = path.join(home.home, name, 'a', 'b', 'c');
      await make(dir, 0o700);
      for (const folder of [path.join(home.home, name), path.join(home.home, name, 'a'), dir]) {
        assert.ok(fs.statSync(folder).isDirectory(), folder);
        assert.equal(fs.statSync(folder).mode & 0o777 & ~0o700, 0, folder);
      }
      await make(dir);
      assert.ok(fs.statSync(dir).isDirectory());
    });

    it(`${name}: a file in the way is ENOTDIR, at the end or above it`, async () => {
      const file = path.join(home.home, `${name}-file`);
      fs.writeFileSync(file, 'x');
      await assert.rejects(make(file), { code: 'ENOTDIR' });
      await assert.rejects(make(path.join(file, 'below')), { code: 'ENOTDIR' });
      assert.equal(fs.readFileSync(file, 'utf8'), 'x');
    });

    it(`${name}: a dangling symlink is ENOENT, and nothing is made where it points`, async () => {
      const target = path.join(home.home, `${name}-nowhere`);
      const link = path.join(home.home, `${name}-dangling`);
      fs.symlinkSync(target, link);
      await assert.rejects(make(path.join(link, 'models')), { code: 'ENOENT' });
      assert.equal(fs.existsSync(target), false);
    });
  }

  it('fails under /proc (mkdir answers ENOENT below a folder that exists) instead of spinning', () => {
    // In a child with a time limit: Node's own recursive mkdir never returns there, and a
    // regression must fail this test, not hang the suite.
    for (const call of ['makeDirectorySync(dir)', 'await makeDirectory(dir)']) {
      const script = `const { makeDirectory, makeDirectorySync } = await import(${JSON.stringify(HELPER)}); const dir = '/proc/dts-util-test/models';
        try { ${call}; console.log('made'); } catch (error) { console.log(error.code); }`;
      const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
      assert.equal(output.trim(), 'ENOENT', call);
    }
  });

  it("is what the code uses: no mkdir with Node's recursive option in src/ or tools/", () => {
    const offenders: string[] = [];
    for (const top of ['src', 'tools']) {
      for (const file of fs.readdirSync(path.join(PACKAGE_ROOT, top), { recursive: true, encoding: 'utf8' })) {
        if (!file.endsWith('.ts')) continue;
        const text = fs.readFileSync(path.join(PACKAGE_ROOT, top, file), 'utf8');
        if (/mkdir(Sync)?\([^;]*recursive:\s*true/.test(text)) offenders.push(path.join(top, file));
      }
    }
    assert.deepEqual(offenders, []);
  });
});
