import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { garbageCollectionFlags, hasExternalMemoryFlag } from '../../src/runtime/gc-tuning.js';

const run = promisify(execFile);

/**
 * Churns 512 MiB through megabyte Buffers with only a few alive at once (as an upload does) and
 * prints how many full (major) collections that took. `tune` applies the project's setting first.
 */
const CHURN = `
  import { PerformanceObserver, constants } from 'node:perf_hooks';
  if (process.argv[1] === 'tune') (await import(${JSON.stringify(new URL('../../src/runtime/gc-tuning.js', import.meta.url).href)})).tuneGarbageCollection();
  let major = 0;
  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++; }).observe({ entryTypes: ['gc'] });
  const alive = [];
  for (let i = 0; i < 512; i++) {
    alive.push(Buffer.allocUnsafe(2 ** 20));
    if (alive.length > 8) alive.shift();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(major);
`;

async function majorCollections(mode: 'tune' | 'default'): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHURN, mode]);
  return Number(stdout.trim());
}

describe('garbage collection tuning for streamed Buffers', () => {
  it('is applied on the V8 that Node.js 24 ships, and nowhere the flag is unknown', () => {
    assert.equal(hasExternalMemoryFlag('13.6.233.17-node.30'), true);
    assert.equal(hasExternalMemoryFlag('12.4.254.21-node.33'), false);
    assert.equal(hasExternalMemoryFlag('14.2.1'), false);
  });

  it('turns allocation-site pretenuring off on every V8 (test/integration/young-generation.test.ts shows why)', () => {
    assert.deepEqual(garbageCollectionFlags('13.6.233.17-node.30'), ['--no-allocation-site-pretenuring', '--external-memory-accounted-in-global-limit']);
    assert.deepEqual(garbageCollectionFlags('14.2.1'), ['--no-allocation-site-pretenuring']);
  });

  it('turns megabyte Buffer churn from a full collection every 64 MB into almost none', async () => {
    assert.ok(hasExternalMemoryFlag(), `the tests run on the Node.js 24 that npm ci installs, not V8 ${process.versions.v8}`);
    const [tuned, untuned] = await Promise.all([majorCollections('tune'), majorCollections('default')]);
    // The control shows the churn does trigger full collections by default (512 MB / 64 MB ≈ 8).
    assert.ok(untuned >= 4, `default V8: ${untuned} full collections`);
    assert.ok(tuned <= 1, `tuned: ${tuned} full collections`);
  });
});
