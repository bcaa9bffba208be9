import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';

import { openOnDevice, openSession, RunClock, toFloat32, type SessionOpener } from '../../src/diffusion/onnx-session.js';
import { optimizedPart, optimizedPaths } from '../../src/diffusion/optimized-graphs.js';
import { optimizingOpener } from '../../src/diffusion/optimizing-opener.js';
import { runnableOnCpu } from '../helpers/gpu-only-ops.js';
import { randomFeeds } from '../helpers/onnx-parity.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

/**
 * A CUDA provider cannot run here: 'cuda' is a stand-in, real CPU sessions. For 'open' it opens
 * the file as it is, and the CPU provider really refuses the CUDA-only GroupNorm nodes the
 * optimizer wrote. For 'run' it opens the optimized graph with those nodes spelled out in
 * standard ONNX (so it opens), and its run() throws, as a fused kernel rejecting a size at run
 * time does. The optimizer, the cache files and the source graph's session are all real.
 */
function refusingGpu(refuse: 'open' | 'run', log: string[]): SessionOpener {
  return async (file, device, gpu) => {
    const optimized = path.basename(file).startsWith('.');
    log.push(`open ${device} ${optimized ? 'optimized' : 'source'}`);
    if (device !== 'cuda' || !optimized || refuse === 'open') return openOnDevice(file, 'cpu', gpu);
    const real = await ort.InferenceSession.create(runnableOnCpu(new Uint8Array(fs.readFileSync(file))), { executionProviders: ['cpu'] });
    return new Proxy(real, {
      get(target, key) {
        if (key === 'run') return async () => { throw new Error('CUDA error: invalid configuration argument ; GPU=0\nstack…'); };
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}

describe('a device that refuses the optimized graph', () => {
  const home = tempHome();
  const unet = path.join(home.home, 'models', 'tiny-sd15', 'unet', 'model.onnx');
  let feeds: Record<string, ort.Tensor>;
  let expected: Float32Array;
  before(async () => {
    await installTinyModels(path.join(home.home, 'models'), { sd15: 'tiny-sd15' });
    feeds = randomFeeds(new Uint8Array(fs.readFileSync(unet)));
    const plain = await openOnDevice(unet, 'cpu', 0);
    expected = toFloat32(Object.values(await plain.run(feeds))[0]!);
    await plain.release();
  });
  after(() => home.cleanup());
  const reset = () => fs.rmSync(optimizedPaths(unet, 'cuda').record, { force: true });

  it('at its first run: runs the source graph on the same device, says why, and remembers it', async () => {
    reset();
    const [log, fallbacks, fused] = [[] as string[], [] as string[], {} as Record<string, Record<string, number>>];
    const model = await openSession(unet, ['cuda', 'cpu'], fallbacks, 0, optimizingOpener('unet', fused, fallbacks, refusingGpu('run', log)));
    assert.ok((fused.unet?.GroupNorm ?? 0) > 0, 'the optimized graph was opened first');
    const out = await new RunClock().run(model, feeds);
    assert.deepEqual(toFloat32(Object.values(out)[0]!), expected, 'the answer is the source graph\'s');
    assert.equal(model.device, 'cuda', 'the device is kept: only the rewrite was at fault');
    assert.deepEqual(log, ['open cuda optimized', 'open cuda source']);
    assert.deepEqual(fallbacks, ['cuda: the optimized graph failed its first run (CUDA error: invalid configuration argument ; GPU=0); running the model\'s own graph']);
    assert.deepEqual(fused.unet, {}, 'the load no longer claims what it does not run');
    const remembered = optimizedPart(unet, 'cuda');
    assert.equal(remembered.file, unet);
    assert.match(remembered.skipped ?? '', /^cuda refused its optimized graph \(CUDA error: invalid configuration argument/);
    assert.ok(!fs.existsSync(optimizedPaths(unet, 'cuda').graph), 'the refused graph is not kept');
    await model.session.release();

    // The next load goes straight to the source.
    const next: string[] = [];
    const again = await openSession(unet, ['cuda', 'cpu'], [], 0, optimizingOpener('unet', {}, [], refusingGpu('run', next)));
    assert.deepEqual(next, ['open cuda source']);
    await again.session.release();
    // Another device's optimized graph is unaffected.
    assert.ok((optimizedPart(unet, 'cpu').fused.MultiHeadAttention ?? 0) > 0);
  });

  it('at opening: opens the source graph on the same device, says why, and remembers it', async () => {
    reset();
    const [log, fallbacks, fused] = [[] as string[], [] as string[], {} as Record<string, Record<string, number>>];
    const model = await openSession(unet, ['cuda', 'cpu'], fallbacks, 0, optimizingOpener('unet', fused, fallbacks, refusingGpu('open', log)));
    assert.equal(model.device, 'cuda');
    assert.deepEqual(log, ['open cuda optimized', 'open cuda source']);
    assert.equal(fallbacks.length, 1);
    assert.match(fallbacks[0]!, /^cuda: unet's optimized graph would not open \(.*GroupNorm.*\); using the model's own graph$/);
    assert.deepEqual(fused.unet, {});
    assert.deepEqual(toFloat32(Object.values(await new RunClock().run(model, feeds))[0]!), expected);
    assert.match(optimizedPart(unet, 'cuda').skipped ?? '', /^cuda refused its optimized graph \(Could not find an implementation for GroupNorm/);
    await model.session.release();
  });

  it('a device that cannot start at all is the device\'s failure: nothing is blamed on the optimized graph', async () => {
    reset();
    const [log, fallbacks, fused] = [[] as string[], [] as string[], {} as Record<string, Record<string, number>>];
    const noAdapter: SessionOpener = async (file, device, gpu) => {
      log.push(`open ${device} ${path.basename(file).startsWith('.') ? 'optimized' : 'source'}`);
      if (device === 'cuda') throw new Error('Failed to get a WebGPU adapter: No supported adapters');
      return openOnDevice(file, device, gpu);
    };
    const model = await openSession(unet, ['cuda', 'cpu'], fallbacks, 0, optimizingOpener('unet', fused, fallbacks, noAdapter));
    assert.deepEqual(log, ['open cuda optimized', 'open cuda source', 'open cpu optimized']);
    assert.equal(model.device, 'cpu');
    assert.deepEqual(fallbacks, ['cuda: Failed to get a WebGPU adapter: No supported adapters']);
    assert.equal(optimizedPart(unet, 'cuda').skipped, undefined, 'the CUDA graph is not remembered as refused');
    await model.session.release();
  });

  it('a source change forgets the refusal: the new file gets optimized again', () => {
    const replacement = `${unet}.new`;
    fs.copyFileSync(unet, replacement);
    fs.renameSync(replacement, unet);
    const part = optimizedPart(unet, 'cuda');
    assert.equal(part.skipped, undefined);
    assert.equal(part.file, optimizedPaths(unet, 'cuda').graph);
  });
});
