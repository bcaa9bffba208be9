import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { runSmokeTest } from '../../src/client/smoke-test.js';
import { resolveServerSettings } from '../../src/config/settings.js';
import type { ImageGenerationRequest, ImageGenerationResponse, ServerStatusResponse } from '../../src/generated/image_generation.js';
import { echo, grpcError } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { tempHome } from '../helpers/temp-home.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

const generate = (c: Connection, r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);
const serverStatus = (c: Connection) => unaryCall<object, ServerStatusResponse>(c.service, c.service.serverStatus, {}, 10_000);
/** Long enough on the built-in model that two overlap, short enough for CI. */
const slow = () => request({ model: 'smoke', width: 256, height: 256, steps: 16 });

describe('several generation workers in one server (--workers 2 on the CPU)', () => {
  let t: TestServer;
  let c: Connection;
  before(async () => {
    t = await startTestServer({ workers: 2, device: 'cpu', memoryBudget: '4GiB' });
    c = t.client();
  });
  after(() => t.stop());

  it('runs two generations at once, one per worker, and info names the worker that ran each', async () => {
    const both = [generate(c, slow()), generate(c, slow())];
    await waitUntil(() => t.server.engine.workers.every((w) => w.busy), 30_000);
    const live = await serverStatus(c);
    assert.deepEqual(live.workers.map((w) => [w.index, w.busy]), [[0, true], [1, true]]);
    assert.equal(live.queueDepth, 0);
    const workers = (await Promise.all(both)).map((r) => (JSON.parse(r.info) as { worker: number }).worker).sort();
    assert.deepEqual(workers, [0, 1]);
  });

  it('Echo and ServerStatus report every worker: device, busy or idle, loaded models, its share of the budget', async () => {
    const reply = await echo(c);
    assert.deepEqual(reply.workers, ['worker 0: cpu, idle, loaded smoke', 'worker 1: cpu, idle, loaded smoke']);
    const { workers, memoryBudgetBytes } = await serverStatus(c);
    assert.deepEqual(workers.map((w) => [w.device, w.busy, w.loadedModels.map((m) => m.name)]), [['cpu', false, ['smoke']], ['cpu', false, ['smoke']]]);
    // Two workers share the machine's memory: each gets half of --memory-budget.
    assert.equal(workers[0]!.memoryBudgetBytes, 2 * 2 ** 30);
    assert.equal(memoryBudgetBytes, 2 * 2 ** 30);
    // `dts-util test` says it too.
    const report = await runSmokeTest({ settings: { ...t.settings, port: t.server.port }, timeoutMs: 10_000 });
    const echoCheck = report.checks.find((check) => check.name === 'echo')!;
    assert.deepEqual(echoCheck.workers, reply.workers);
    assert.match(echoCheck.detail, /2 workers \(worker 0: cpu, idle, loaded smoke; worker 1: cpu, idle, loaded smoke\)/);
  });

  it('a third job waits for the first free worker', async () => {
    const jobs = [generate(c, slow()), generate(c, slow()), generate(c, slow())];
    await waitUntil(() => t.server.engine.queueDepth === 1, 30_000);
    assert.ok(t.server.engine.workers.every((w) => w.busy));
    assert.equal((await Promise.all(jobs)).length, 3);
  });

  it('a killed worker fails only its own job; the other finishes, and the killed one comes back for the next', async () => {
    const first = generate(c, slow());
    const second = generate(c, slow());
    await waitUntil(() => t.server.engine.workers.every((w) => w.busy && w.pid !== undefined), 30_000);
    const victim = t.server.engine.workers[1]!;
    process.kill(victim.pid!, 'SIGKILL');
    const outcomes = await Promise.allSettled([first, second]);
    const failed = outcomes.filter((o) => o.status === 'rejected');
    assert.equal(failed.length, 1, 'exactly one job fails');
    const error = (failed[0] as PromiseRejectedResult).reason as { code: number; details: string };
    assert.equal(error.code, status.INTERNAL);
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    await waitUntil(() => !t.server.engine.busy);
    assert.equal(t.server.engine.workers[1]!.restarts, 1);
    // Both workers take jobs again.
    const again = await Promise.all([generate(c, slow()), generate(c, slow())]);
    assert.deepEqual(again.map((r) => (JSON.parse(r.info) as { worker: number }).worker).sort(), [0, 1]);
    assert.match((await echo(c)).workers[1]!, /restarted 1×/);
  });
});

describe('--gpus and --workers settings', () => {
  it('one worker per listed GPU, times --workers; a bad list is a usage error', () => {
    const { env, cleanup } = tempHome();
    try {
      assert.deepEqual(resolveServerSettings({}, env).workerGpus, [0]);
      assert.deepEqual(resolveServerSettings({ gpus: '0,1,3' }, env).workerGpus, [0, 1, 3]);
      assert.deepEqual(resolveServerSettings({ gpus: '0,1', workers: 2 }, env).workerGpus, [0, 0, 1, 1]);
      assert.deepEqual(resolveServerSettings({ workers: 3, gpu: 2 }, env).workerGpus, [2, 2, 2]);
      assert.deepEqual(resolveServerSettings({}, { ...env, DTS_UTIL_GPUS: '1,2' }).workerGpus, [1, 2]);
      assert.throws(() => resolveServerSettings({ gpus: '0,0' }, env), /names a GPU twice/);
      assert.throws(() => resolveServerSettings({ gpus: 'first' }, env), /not a list of GPU ids/);
      assert.throws(() => resolveServerSettings({ workers: 0 }, env), /workers/);
    } finally {
      cleanup();
    }
  });

  it('a queue-full refusal counts every worker: with two busy and the queue full, the next is RESOURCE_EXHAUSTED', async () => {
    const t = await startTestServer({ workers: 2, device: 'cpu', maxQueue: 1 });
    const c = t.client();
    try {
      const jobs = [generate(c, slow()), generate(c, slow()), generate(c, slow())];
      await waitUntil(() => t.server.engine.queueDepth === 1, 30_000);
      const refused = await grpcError(generate(c, slow()));
      assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
      await Promise.all(jobs);
    } finally {
      await t.stop();
    }
  });
});
