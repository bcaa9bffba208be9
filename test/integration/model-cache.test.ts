import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { modelResidentBytes } from '../../src/diffusion/memory-estimate.js';
import type { ImageGenerationProgress, ImageGenerationRequest, ImageGenerationResponse, ServerStatusResponse } from '../../src/generated/image_generation.js';
import { echo, grpcError } from '../helpers/calls.js';
import { runCli, spawnServe } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

const A = 'tiny-sd15';
const B = 'tiny-sd2-v';

const generate = (c: Connection, model: string, overrides: Partial<ImageGenerationRequest> = {}) =>
  unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ model, steps: 1, ...overrides }), 120_000);
const serverStatus = (c: Connection) => unaryCall<object, ServerStatusResponse>(c.service, c.service.serverStatus, {}, 10_000);
const loadEvents = (reply: ImageGenerationResponse) => reply.events.filter((e) => / loaded in \d+ ms/.test(e));
const logLines = (t: TestServer, pattern: RegExp) => t.logs.map((l) => JSON.parse(l) as { msg: string }).filter((l) => pattern.test(l.msg));

/** Every progress message of a streamed generation, and how it ended. */
function stream(c: Connection, model: string, overrides: Partial<ImageGenerationRequest>): Promise<{ messages: ImageGenerationProgress[]; error?: { code: number; details: string } }> {
  return new Promise((resolve) => {
    const messages: ImageGenerationProgress[] = [];
    const call = c.service.generateImageStream(request({ model, steps: 1, ...overrides }));
    call.on('data', (m: ImageGenerationProgress) => messages.push(m));
    call.on('end', () => resolve({ messages }));
    call.on('error', (error: { code: number; details: string }) => resolve({ messages, error }));
  });
}

describe('model cache through gRPC (tiny built pipelines, real ONNX Runtime, real TLS)', () => {
  const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-cache-models-'));
  let sizes: { a: number; b: number };
  const servers: TestServer[] = [];
  const serve = async (memoryBudget: string) => {
    const t = await startTestServer({ modelPath: modelsDir, memoryBudget });
    servers.push(t);
    return { t, c: t.client() };
  };
  before(async () => {
    await installTinyModels(modelsDir);
    sizes = { a: modelResidentBytes(path.join(modelsDir, A)), b: modelResidentBytes(path.join(modelsDir, B)) };
  });
  after(async () => {
    for (const t of servers) await t.stop();
    fs.rmSync(modelsDir, { recursive: true, force: true });
  });

  it('alternating two models that both fit loads each once: the third and fourth requests load nothing', async () => {
    const { t, c } = await serve('1GiB');
    const replies = [];
    for (const model of [A, B, A, B]) replies.push(await generate(c, model));
    for (const [i, model] of [A, B].entries()) {
      assert.equal(loadEvents(replies[i]!).length, 1);
      assert.match(loadEvents(replies[i]!)[0]!, new RegExp(`^model ${model} loaded in \\d+ ms on cpu(; graph optimizer fused .+)?$`));
    }
    assert.deepEqual([loadEvents(replies[2]!), loadEvents(replies[3]!)], [[], []], 'a cache hit loads nothing');
    assert.deepEqual([logLines(t, new RegExp(`^model ${A} loaded in \\d+ ms(; graph optimizer fused .+)?$`)).length, logLines(t, new RegExp(`^model ${B} loaded in`)).length], [1, 1]);
    assert.deepEqual(logLines(t, /^evicted/), []);
    const state = await serverStatus(c);
    assert.equal(state.memoryBudgetBytes, 2 ** 30);
    assert.deepEqual(state.loadedModels, [
      { name: A, bytes: sizes.a },
      { name: B, bytes: sizes.b },
    ]);
  });

  it('with a budget that fits one model, every switch evicts the other and reloads', async () => {
    const budget = Math.floor(Math.max(sizes.a, sizes.b) * 1.5);
    assert.ok(budget < sizes.a + sizes.b, 'the budget must not fit both models');
    const { t, c } = await serve(String(budget));
    const replies = [];
    for (const model of [A, B, A]) replies.push(await generate(c, model));
    assert.deepEqual(replies.map((r) => loadEvents(r).length), [1, 1, 1], 'each switch reloads');
    assert.ok(replies[1]!.events.some((e) => new RegExp(`^evicted model ${A} \\(\\d+\\.\\d MiB\\) to make room for ${B}: memory budget`).test(e)), replies[1]!.events.join('\n'));
    assert.ok(replies[2]!.events.some((e) => e.startsWith(`evicted model ${B} `)));
    assert.equal(logLines(t, new RegExp(`^evicted model ${A} to make room: loading ${B} would exceed the memory budget$`)).length, 1);
    assert.deepEqual((await serverStatus(c)).loadedModels, [{ name: A, bytes: sizes.a }]);
  });

  it('refuses a request whose working memory does not fit beside its model, before it queues or loads, and keeps serving', async () => {
    const budget = Math.floor(Math.max(sizes.a, sizes.b) * 1.5);
    const { t, c } = await serve(String(budget));
    const refused = await stream(c, A, { width: 512, height: 512, batchSize: 4 });
    assert.equal(refused.error?.code, status.RESOURCE_EXHAUSTED);
    assert.match(refused.error!.details, new RegExp(`working memory \\(attention\\) on top of \\d+\\.\\d MiB for model ${A}'s weights, more than the memory budget of \\d+\\.\\d MiB: lower width/height or batch_size, or raise --memory-budget`));
    assert.deepEqual(refused.messages, [], 'no progress: it never queued');
    assert.deepEqual(logLines(t, /loaded in/), [], 'nothing was loaded for it');
    assert.equal((await generate(c, A)).images.length, 1);
  });

  it('a budget too small for the model answers RESOURCE_EXHAUSTED naming the numbers and the setting, and the server keeps serving', async () => {
    const { t, c } = await serve('4MB');
    const error = await grpcError(generate(c, A));
    assert.equal(error.code, status.RESOURCE_EXHAUSTED);
    const mib = (sizes.a / 2 ** 20).toFixed(1);
    assert.match(error.details, new RegExp(`^model ${A} needs ${mib} MiB for its weights, more than the memory budget of 3\\.8 MiB: raise --memory-budget \\(DTS_UTIL_MEMORY_BUDGET, memoryBudget in config.json\\)`));
    assert.equal((await echo(c)).message, 'HELLO');
    const state = await serverStatus(c);
    assert.deepEqual([state.loadedModels, state.queueDepth, state.generating], [[], 0, false]);
    assert.deepEqual(logLines(t, /loaded in/), []);
  });
});

describe('the --memory-budget setting on the command line', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('serve refuses a bad value from the flag or the environment with exit 2 and the forms it takes', async () => {
    for (const [args, env] of [
      [['--memory-budget', 'lots'], {}],
      [[], { DTS_UTIL_MEMORY_BUDGET: '150%' }],
    ] as const) {
      const run = await runCli(['serve', '--port', '0', ...args, '--json'], { ...home.env, ...env });
      assert.equal(run.code, 2, run.stdout + run.stderr);
      const { error } = JSON.parse(run.stdout) as { error: { message: string; suggestion: string } };
      assert.match(error.message, /^invalid memory budget "(lots|150%)" from (--memory-budget|DTS_UTIL_MEMORY_BUDGET)$/);
      assert.match(error.suggestion, /80%.*12GiB|more than 0% and at most 100%/);
    }
  });

  it('install writes it into the service configuration, and the installed server runs with it', async () => {
    const port = await freePort();
    const install = await runCli(['install', '--service-manager', 'none', '--port', String(port), '--memory-budget', '6GiB', '--json'], home.env);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    assert.equal(JSON.parse(fs.readFileSync(path.join(home.home, 'config.json'), 'utf8')).memoryBudget, '6GiB');
    const server = await spawnServe(['--port', String(port)], home.env);
    try {
      const listening = await server.waitForLine((line) => line.msg === 'dts-util server listening');
      assert.equal(listening.memoryBudget, '6GiB = 6.0 GiB');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
