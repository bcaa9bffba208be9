/**
 * Generations run in a child process of `dts-util serve` (src/engine/worker.ts). When the server
 * dies without a chance to stop it (SIGKILL, OOM killer), the worker must not linger holding
 * gigabytes of loaded models, nor finish a job nobody will read: it sees its channel close and
 * exits at the next step.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { unaryCall } from '../../src/client/client.js';
import type { ImageGenerationProgress, ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { serveWithClient, type ServeWithClient } from '../helpers/cli.js';
import { childrenOf, exited } from '../helpers/processes.js';
import { request } from '../helpers/requests.js';
import { tempHome } from '../helpers/temp-home.js';
import { waitUntil } from '../helpers/wait.js';

describe('the generation worker process', () => {
  const home = tempHome('dts-worker-process-');
  let server: ServeWithClient;
  before(async () => {
    server = await serveWithClient([], home.home, home.env);
  });
  after(async () => {
    server.connection.close();
    home.cleanup();
  });

  it('stays between jobs, and exits mid-job when its server is killed', async () => {
    const { service } = server.connection;
    const reply = await unaryCall<ImageGenerationRequest, ImageGenerationResponse>(service, service.generateImage, request({ model: 'smoke', steps: 1 }), 60_000);
    assert.equal(reply.images.length, 1);
    const [worker, ...others] = childrenOf(server.serve.child.pid!);
    assert.ok(worker !== undefined && others.length === 0, 'serve has one child after a generation: its worker');
    assert.ok(!exited(worker), 'the worker stays between jobs');
    // A job of 150 steps at 512×512 runs for many seconds; the worker must not finish it.
    const call = service.generateImageStream(request({ model: 'smoke', steps: 150, width: 512, height: 512 }));
    call.on('error', () => undefined); // the server is about to vanish
    await new Promise<void>((resolve) => call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && m.step === 1 && resolve()));
    server.serve.child.kill('SIGKILL');
    await server.serve.exited;
    await waitUntil(() => exited(worker), 3_000);
  });
});
