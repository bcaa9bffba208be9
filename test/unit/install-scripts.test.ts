import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';

const readJson = (name: string) => JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, name), 'utf8'));

/** Names of the locked packages that have an install script (npm 12 runs none of them unless package.json's allowScripts says so). */
function lockedWithInstallScripts(): Set<string> {
  const lock = readJson('package-lock.json') as { packages: Record<string, { hasInstallScript?: boolean }> };
  const names = Object.entries(lock.packages)
    // '' is this package itself: its own scripts always run, allowScripts governs dependencies only.
    .filter(([location, entry]) => location !== '' && entry.hasInstallScript === true)
    .map(([location]) => location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length));
  return new Set(names);
}

describe('install scripts (package.json allowScripts)', () => {
  const allowScripts = (readJson('package.json') as { allowScripts?: Record<string, boolean> }).allowScripts ?? {};

  it('decides for every locked dependency with an install script, so npm 12 installs the same tree as npm 11', () => {
    const undecided = [...lockedWithInstallScripts()].filter((name) => typeof allowScripts[name] !== 'boolean');
    assert.deepEqual(undecided, []);
  });

  it('lets the scripts run that the tool needs: Node 24 itself, the DogStatsD socket addon', () => {
    // node@24's preinstall puts the Node binary in node_modules/.bin; without it npx runs the system Node.
    for (const name of ['node', 'unix-dgram']) assert.equal(allowScripts[name], true, name);
  });

  it("keeps onnxruntime-node's own download off: the CUDA provider comes from the npm registry (scripts/fetch-cuda-provider.mjs)", () => {
    // Its script fetches a CUDA 12 provider from NuGet, a second source and the wrong CUDA for the pinned core.
    assert.equal(allowScripts['onnxruntime-node'], false);
    assert.match(readJson('package.json').scripts.postinstall, /fetch-cuda-provider\.mjs/);
  });

  it('names no package that is not locked with an install script (a stale entry would hide a future one)', () => {
    const locked = lockedWithInstallScripts();
    assert.deepEqual(Object.keys(allowScripts).filter((name) => !locked.has(name)), []);
  });
});
