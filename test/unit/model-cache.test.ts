import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { UsageError } from '../../src/config/errors.js';
import { parseMemoryBudget, resolveServerSettings } from '../../src/config/settings.js';
import { budgetRefusal, modelResidentBytes } from '../../src/diffusion/memory-estimate.js';
import { resolveMemoryBudget } from '../../src/engine/memory-budget.js';
import { ModelCache, ModelCacheFullError, type ModelSpec } from '../../src/engine/model-cache.js';
import { tempHome } from '../helpers/temp-home.js';

const MiB = 2 ** 20;

/** Stands in for a LoadedModel: records its loads and releases. */
class FakeModel {
  released = false;
  constructor(readonly name: string) {}
  release(): void {
    this.released = true;
  }
}

/** A cache with a loader that counts loads per model. */
function cacheOf(budgetMiB: number) {
  const cache = new ModelCache<FakeModel>(budgetMiB * MiB);
  const loads: string[] = [];
  const models = new Map<string, FakeModel>();
  const spec = (name: string, mib: number, version = ''): ModelSpec => ({ key: `/models/${name}${version}`, folder: `/models/${name}`, name, bytes: mib * MiB });
  /** Acquires and at once unpins, as a finished job does. */
  const use = async (name: string, mib: number, workingMiB = 0) => {
    const got = await cache.acquire(spec(name, mib), workingMiB * MiB, async () => {
      loads.push(name);
      const model = new FakeModel(name);
      models.set(name, model);
      return model;
    });
    got.unpin();
    return got;
  };
  return { cache, loads, models, spec, use, names: () => cache.resident().map((m) => m.name) };
}

describe('ModelCache', () => {
  it('loads each model once while both fit, and a hit loads nothing', async () => {
    const { loads, use, names } = cacheOf(100);
    for (const name of ['a', 'b', 'a', 'b', 'a']) await use(name, 40);
    assert.deepEqual(loads, ['a', 'b']);
    assert.deepEqual(names(), ['b', 'a'], 'least recently used first');
    assert.equal((await use('b', 40)).loaded, false);
  });

  it('evicts the least recently used model, and releases it, to make room', async () => {
    const { loads, models, use, names } = cacheOf(100);
    await use('a', 40);
    await use('b', 40);
    await use('a', 40); // now b is the least recently used
    const got = await use('c', 40);
    assert.deepEqual(got.evicted, [{ name: 'b', bytes: 40 * MiB }]);
    assert.equal(models.get('b')!.released, true);
    assert.equal(models.get('a')!.released, false);
    assert.deepEqual(names(), ['a', 'c']);
    assert.deepEqual(loads, ['a', 'b', 'c']);
  });

  it('with room for one model, every switch reloads', async () => {
    const { loads, use } = cacheOf(50);
    for (const name of ['a', 'b', 'a', 'b']) await use(name, 40);
    assert.deepEqual(loads, ['a', 'b', 'a', 'b']);
  });

  it("counts the job's working memory: a hit can evict others so that it fits", async () => {
    const { loads, use, names } = cacheOf(100);
    await use('a', 30);
    await use('b', 30);
    const got = await use('b', 30, 50); // 30 + 30 + 50 > 100: a goes, b stays loaded
    assert.equal(got.loaded, false);
    assert.deepEqual(got.evicted.map((m) => m.name), ['a']);
    assert.deepEqual(names(), ['b']);
    assert.deepEqual(loads, ['a', 'b']);
  });

  it('never evicts a model in use; refuses instead, naming it, and loads nothing', async () => {
    const { cache, spec } = cacheOf(100);
    const job = await cache.acquire(spec('a', 60), 0, async () => new FakeModel('a')); // pinned: a job runs on it
    let loaded = false;
    await assert.rejects(
      cache.acquire(spec('b', 60), 0, async () => ((loaded = true), new FakeModel('b'))),
      (error: Error) => error instanceof ModelCacheFullError && /model b .*memory budget of 100\.0 MiB beside the models in use: a \(60\.0 MiB\)/.test(error.message),
    );
    assert.equal(loaded, false);
    assert.deepEqual(cache.resident().map((m) => m.name), ['a']);
    job.unpin(); // the job ended: now a may go
    const got = await cache.acquire(spec('b', 60), 0, async () => new FakeModel('b'));
    assert.deepEqual(got.evicted.map((m) => m.name), ['a']);
    assert.equal(job.model.released, true);
  });

  it('refuses a model bigger than the budget, or one whose request cannot fit beside it, evicting nothing', async () => {
    const { cache, spec, use, names } = cacheOf(100);
    await use('a', 40);
    await assert.rejects(cache.acquire(spec('huge', 120), 0, async () => new FakeModel('huge')), (error: Error) => {
      assert.ok(error instanceof ModelCacheFullError);
      assert.match(error.message, /model huge needs 120\.0 MiB for its weights, more than the memory budget of 100\.0 MiB/);
      assert.match(error.message, /--memory-budget/);
      return true;
    });
    await assert.rejects(cache.acquire(spec('b', 40), 70 * MiB, async () => new FakeModel('b')), /70\.0 MiB of working memory .* on top of 40\.0 MiB for model b's weights/);
    assert.deepEqual(names(), ['a']);
  });

  it('a load that runs out of memory evicts the models not in use and tries once more', async () => {
    const { cache, spec, use, models } = cacheOf(1000); // a budget above what the "device" has
    await use('a', 10);
    await use('b', 10);
    let tries = 0;
    const evictions: string[] = [];
    const got = await cache.acquire(
      spec('c', 10),
      0,
      async () => {
        if (++tries === 1) throw new Error('Failed to allocate memory for requested buffer of size 123');
        return new FakeModel('c');
      },
      (m) => evictions.push(m.name),
    );
    assert.deepEqual([tries, got.loaded, evictions, got.evicted.map((m) => m.name)], [2, true, ['a', 'b'], ['a', 'b']]);
    assert.ok(models.get('a')!.released && models.get('b')!.released);
    assert.deepEqual(cache.resident().map((m) => m.name), ['c']);
  });

  it('refuses clearly when a load runs out of memory with nothing left to evict; other load errors pass through untouched', async () => {
    const { cache, spec, use } = cacheOf(1000);
    const oom = () => Promise.reject(new Error('CUDA failure 2: out of memory\nstack…'));
    await assert.rejects(cache.acquire(spec('big', 10), 0, oom), (error: Error) => {
      assert.ok(error instanceof ModelCacheFullError);
      assert.match(error.message, /^loading model big \(10\.0 MiB\) ran out of memory with no other model loaded \(CUDA failure 2: out of memory\): the memory budget of 1000\.0 MiB is more than the device has free; lower --memory-budget/);
      return true;
    });
    await use('a', 10);
    await assert.rejects(cache.acquire(spec('bad', 10), 0, () => Promise.reject(new Error('invalid protobuf'))), (error: Error) => !(error instanceof ModelCacheFullError) && /invalid protobuf/.test(error.message));
    assert.deepEqual(cache.resident().map((m) => m.name), ['a'], 'a broken file evicts nothing');
  });

  it('a folder whose files changed loads afresh, and its idle old version is released at once', async () => {
    const { cache, spec } = cacheOf(100);
    const old = await cache.acquire(spec('m', 30, '@1'), 0, async () => new FakeModel('m old'));
    old.unpin();
    const fresh = await cache.acquire(spec('m', 30, '@2'), 0, async () => new FakeModel('m new'));
    assert.deepEqual([fresh.loaded, fresh.replaced, fresh.model.name], [true, true, 'm new']);
    assert.equal(old.model.released, true);
    assert.deepEqual(cache.resident(), [{ name: 'm', bytes: 30 * MiB }]);
    fresh.unpin();
    assert.equal((await cache.acquire(spec('m', 30, '@2'), 0, async () => new FakeModel('again'))).replaced, false, 'the same files again: a hit');
  });

  it('a job running on the old version keeps it until it ends; then it is released, and never handed out again', async () => {
    const { cache, spec } = cacheOf(100);
    const running = await cache.acquire(spec('m', 30, '@1'), 0, async () => new FakeModel('m old'));
    const fresh = await cache.acquire(spec('m', 30, '@2'), 0, async () => new FakeModel('m new'));
    assert.equal(running.model.released, false, 'in use by the running job');
    assert.equal(cache.residentBytes, 60 * MiB, 'both are in memory while the old one runs');
    assert.equal(cache.has('/models/m@1'), false, 'no new job gets the old version');
    running.unpin();
    running.unpin(); // a second unpin of the same job changes nothing
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(running.model.released, true);
    assert.equal(fresh.model.released, false);
    assert.deepEqual(cache.resident(), [{ name: 'm', bytes: 30 * MiB }]);
  });

  it('counts a stale model still in use against the budget, and names it when a request cannot fit beside it', async () => {
    const { cache, spec } = cacheOf(100);
    await cache.acquire(spec('m', 40, '@1'), 0, async () => new FakeModel('m old')); // still running
    const fresh = await cache.acquire(spec('m', 40, '@2'), 0, async () => new FakeModel('m new'));
    fresh.unpin();
    await assert.rejects(cache.acquire(spec('b', 70), 0, async () => new FakeModel('b')), /beside the models in use: m \(40\.0 MiB\)/);
  });

  it('forgets a model whose load failed, so the next request tries again', async () => {
    const { cache, spec } = cacheOf(100);
    await assert.rejects(cache.acquire(spec('a', 10), 0, async () => Promise.reject(new Error('bad file'))), /bad file/);
    assert.equal(cache.has('/models/a'), false);
    assert.equal(cache.residentBytes, 0);
    assert.equal((await cache.acquire(spec('a', 10), 0, async () => new FakeModel('a'))).loaded, true);
  });
});

describe('memory budget arithmetic', () => {
  it("a model's resident cost is its ONNX parts' files, not configs, tokenizer or unused parts", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-model-'));
    const file = (relative: string, bytes: number) => {
      fs.mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
      fs.writeFileSync(path.join(dir, relative), Buffer.alloc(bytes));
    };
    file('unet/model.onnx', 1000);
    file('unet/model.onnx_data', 5000); // external weights count
    file('unet/config.json', 300);
    file('text_encoder/model.onnx', 200);
    file('vae_decoder/model.onnx', 100);
    file('tokenizer/vocab.json', 999);
    file('safety_checker/model.onnx', 7777); // shipped by some exports, never loaded
    try {
      assert.equal(modelResidentBytes(dir), 6300);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('a request fits when weights plus working memory are within the budget', () => {
    assert.equal(budgetRefusal('m', 60, 40, 100), undefined);
    assert.match(budgetRefusal('m', 60, 41, 100)!, /working memory/);
    assert.match(budgetRefusal('m', 101, 0, 100)!, /for its weights/);
  });
});

describe('--memory-budget / DTS_UTIL_MEMORY_BUDGET / config.json memoryBudget', () => {
  it('takes a share of RAM or a size', () => {
    assert.equal(parseMemoryBudget('80%', 'test', 1000), 800);
    assert.equal(parseMemoryBudget('12.5 %', 'test', 1000), 125);
    assert.equal(parseMemoryBudget('12GiB', 'test'), 12 * 2 ** 30);
    assert.equal(parseMemoryBudget('8000MB', 'test'), 8e9);
  });

  it('refuses nonsense with a usage error that names the source and the forms it takes', () => {
    for (const bad of ['lots', '0%', '150%', '-1GiB', '0', '12 parsecs']) {
      assert.throws(() => parseMemoryBudget(bad, 'DTS_UTIL_MEMORY_BUDGET'), (error: Error) => {
        assert.ok(error instanceof UsageError, bad);
        assert.match(error.message, new RegExp(`invalid memory budget .* from DTS_UTIL_MEMORY_BUDGET`));
        assert.match(error.suggestion!, /%/);
        return true;
      });
    }
  });

  it('resolves flag > environment > config.json > 80%, keeping what was written', () => {
    const home = tempHome();
    try {
      assert.equal(resolveServerSettings({}, home.env).memoryBudget, '80%');
      fs.writeFileSync(path.join(home.home, 'config.json'), JSON.stringify({ memoryBudget: '6GiB' }));
      assert.equal(resolveServerSettings({}, home.env).memoryBudget, '6GiB');
      const env = { ...home.env, DTS_UTIL_MEMORY_BUDGET: '5GiB' };
      assert.equal(resolveServerSettings({}, env).memoryBudget, '5GiB');
      assert.equal(resolveServerSettings({ memoryBudget: '4GiB' }, env).memoryBudget, '4GiB');
      fs.writeFileSync(path.join(home.home, 'config.json'), JSON.stringify({ memoryBudget: 'plenty' }));
      assert.throws(() => resolveServerSettings({}, home.env), /invalid memory budget "plenty" from config.json/);
    } finally {
      home.cleanup();
    }
  });

  it("turns a percentage into bytes of the GPU's memory on CUDA, else of RAM; a size stays as it is", () => {
    const gpuMemory = (gpu: number) => (gpu === 1 ? 100 * 2 ** 30 : undefined);
    assert.deepEqual(resolveMemoryBudget('80%', 'cuda,cpu', 1, gpuMemory), { bytes: 80 * 2 ** 30, basis: "80% of GPU 1's memory (100.0 GiB)" });
    const ram = Math.floor(os.totalmem() * 0.8);
    assert.equal(resolveMemoryBudget('80%', 'cuda,cpu', 0, gpuMemory).bytes, ram, 'GPU memory unknown: RAM');
    assert.equal(resolveMemoryBudget('80%', 'webgpu,cpu', 1, gpuMemory).bytes, ram, 'WebGPU: RAM');
    assert.match(resolveMemoryBudget('80%', 'cpu', 1, gpuMemory).basis, /^80% of RAM \(\d+\.\d GiB\)$/);
    assert.deepEqual(resolveMemoryBudget('12GiB', 'cuda,cpu', 1, gpuMemory), { bytes: 12 * 2 ** 30, basis: '12GiB' });
  });
});
