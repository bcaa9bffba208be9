import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type * as ort from 'onnxruntime-node';

import { floatTensor, openOnDevice, openSession, RunClock, toFloat32, type SessionOpener } from '../../src/diffusion/onnx-session.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';

/**
 * A GPU that opens sessions but fails their runs cannot exist here, so that part is a stand-in:
 * a real CPU session whose run() throws as a CUDA run does when out of memory. Everything behind
 * it (re-opening the file on the next device, running the same feeds, keeping the result) is real.
 */
function flakyGpu(failRuns: (run: number) => boolean, log: string[]): SessionOpener {
  return async (file, device, gpu) => {
    if (device !== 'fakegpu') {
      log.push(`open ${device}`);
      return openOnDevice(file, device, gpu);
    }
    log.push('open fakegpu');
    const real = await openOnDevice(file, 'cpu', gpu);
    let runs = 0;
    return new Proxy(real, {
      get(target, key) {
        if (key === 'run') {
          return async (feeds: ort.InferenceSession.FeedsType) => {
            if (failRuns(++runs)) throw new Error('CUDA failure 2: out of memory ; GPU=0 ; hostname=box\nstack…');
            return target.run(feeds);
          };
        }
        if (key === 'release') return async () => (log.push('release fakegpu'), target.release());
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}

describe('a device that fails on its first run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-fallback-'));
  const file = path.join(dir, 'double.onnx');
  // y = 2x on a float16 input and output, as fp16 exports are, so the fallback re-feeds fp16 tensors.
  before(() => {
    const g = new GraphBuilder('double');
    const x = g.input('x', DataType.FLOAT, [2, 'n']);
    g.node('Add', [x, x], {}, ['y']);
    g.output('y', DataType.FLOAT, [2, 'n']);
    g.halfPrecisionIO();
    fs.writeFileSync(file, g.encode());
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const feeds = (values: number[], dims = [2, values.length / 2]) => ({ x: floatTensor('float16', Float32Array.from(values), dims) });

  it('moves to the next device, answers from it, and records why', async () => {
    const log: string[] = [];
    const fallbacks: string[] = [];
    const model = await openSession(file, ['fakegpu', 'cpu'], fallbacks, 0, flakyGpu(() => true, log));
    assert.equal(model.device, 'fakegpu');
    const clock = new RunClock();
    const out = await clock.run(model, feeds([1, 2, 3, 4]));
    assert.deepEqual(Array.from(toFloat32(out.y!)), [2, 4, 6, 8]);
    assert.equal(model.device, 'cpu');
    assert.deepEqual(fallbacks, ['fakegpu: first run failed: CUDA failure 2: out of memory ; GPU=0 ; hostname=box']);
    // The failed session is released, and later runs stay on the CPU without re-opening anything.
    assert.deepEqual(log, ['open fakegpu', 'open cpu', 'release fakegpu']);
    assert.deepEqual(Array.from(toFloat32((await clock.run(model, feeds([0.5, -1]))).y!)), [1, -2]);
    assert.deepEqual(log, ['open fakegpu', 'open cpu', 'release fakegpu']);
    await model.session.release();
  });

  it('keeps the device when the next one fails the same way: the request was at fault, not the device', async () => {
    const log: string[] = [];
    const fallbacks: string[] = [];
    const model = await openSession(file, ['fakegpu', 'cpu'], fallbacks, 0, flakyGpu(() => false, log));
    // Three dimensions where the model takes two: every device refuses it.
    const bad = { x: floatTensor('float16', Float32Array.of(1, 2), [1, 1, 2]) };
    await assert.rejects(new RunClock().run(model, bad), /(Invalid rank|invalid rank|Got: 3 Expected: 2)/i);
    assert.equal(model.device, 'fakegpu');
    assert.deepEqual(fallbacks, []);
    // It then runs a good request on the device it had.
    assert.deepEqual(Array.from(toFloat32((await new RunClock().run(model, feeds([3, 4]))).y!)), [6, 8]);
    assert.equal(model.device, 'fakegpu');
    assert.deepEqual(log, ['open fakegpu', 'open cpu']);
    await model.session.release();
  });

  it('does not fall back once a run has worked: a later failure is the caller’s to see', async () => {
    const log: string[] = [];
    const fallbacks: string[] = [];
    const model = await openSession(file, ['fakegpu', 'cpu'], fallbacks, 0, flakyGpu((run) => run > 1, log));
    const clock = new RunClock();
    assert.deepEqual(Array.from(toFloat32((await clock.run(model, feeds([1, 1]))).y!)), [2, 2]);
    await assert.rejects(clock.run(model, feeds([1, 1])), /CUDA failure 2: out of memory/);
    assert.deepEqual([model.device, fallbacks, log], ['fakegpu', [], ['open fakegpu']]);
    await model.session.release();
  });

  it('fails with the error when there is no device left to try', async () => {
    const fallbacks: string[] = [];
    const model = await openSession(file, ['fakegpu'], fallbacks, 0, flakyGpu(() => true, []));
    await assert.rejects(new RunClock().run(model, feeds([1, 1])), /CUDA failure 2/);
    assert.deepEqual(fallbacks, []);
    await model.session.release();
  });
});
