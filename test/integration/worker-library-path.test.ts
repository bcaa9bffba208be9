import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { validateRequest } from '../../src/diffusion/request.js';
import { Engine } from '../../src/engine/engine.js';
import { createLogger } from '../../src/log/logger.js';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import { childrenOf } from '../helpers/processes.js';
import { request } from '../helpers/requests.js';

/*
 * The loader reads LD_LIBRARY_PATH once, when a process starts: CUDA's libraries found in a
 * Python environment reach ONNX Runtime only if the worker process starts with them on it.
 */
describe('the generation worker starts with the CUDA library folders the probe found', () => {
  const wheels = ['/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib', '/opt/venv/lib/python3.12/site-packages/nvidia/cudnn/lib'];
  const engine = new Engine({ logger: createLogger({ level: 'error', write: () => {} }), maxQueue: 1, device: 'cpu', gpu: 0, memoryBudget: '80%', libraryDirs: wheels });
  after(() => engine.close());

  it('on its LD_LIBRARY_PATH, ahead of what the server had', async () => {
    const before = new Set(childrenOf(process.pid));
    const result = await engine.generate({ params: { ...validateRequest(request({ steps: 1 })), model: 'smoke' }, modelDir: path.join(PACKAGE_ROOT, 'models', 'smoke'), modelName: 'smoke', signal: new AbortController().signal });
    assert.equal(result.images.length, 1);
    const [worker] = childrenOf(process.pid).filter((pid) => !before.has(pid));
    assert.ok(worker, 'no worker process');
    const environ = fs.readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0');
    const libraryPath = environ.find((entry) => entry.startsWith('LD_LIBRARY_PATH='))?.slice('LD_LIBRARY_PATH='.length) ?? '';
    assert.deepEqual(libraryPath.split(':').slice(0, 2), wheels);
  });
});
