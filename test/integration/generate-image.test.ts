import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';

import { status, type ServiceError } from '@grpc/grpc-js';
import { PNG } from 'pngjs';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { readPngText } from '../../src/diffusion/png.js';
import type { ImageGenerationProgress, ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { echo, grpcError } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installTinyModels } from '../helpers/tiny-models.js';
import { waitUntil } from '../helpers/wait.js';

const generate = (c: Connection, r: ImageGenerationRequest, timeoutMs = 120_000) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, timeoutMs);

describe('GenerateImage on tiny built pipelines (real ONNX Runtime, real TLS)', () => {
  let t: TestServer;
  let c: Connection;
  before(async () => {
    t = await startTestServer({ maxQueue: 1, defaultModel: 'tiny-sd15' });
    await installTinyModels(t.settings.modelsDir);
    c = t.client();
  });
  after(() => t.stop());

  it('returns batch_size × batch_count PNGs of the asked size, with parameters, info and events', async () => {
    const reply = await generate(c, request({ batchSize: 2, batchCount: 2, width: 64, height: 72, seed: 1000 }));
    assert.equal(reply.images.length, 4);
    for (const [i, image] of reply.images.entries()) {
      const png = PNG.sync.read(Buffer.from(image));
      assert.deepEqual([png.width, png.height], [64, 72]);
      const parameters = readPngText(Buffer.from(image)).parameters!;
      assert.match(parameters, /^a photo of a cat\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, CFG scale: 7, Seed: \d+, Size: 64x72, Model: tiny-sd15/);
      assert.match(parameters, new RegExp(`Seed: ${1000 + i},`), 'image i uses seed + i');
    }
    const info = JSON.parse(reply.info);
    assert.equal(info.seed, 1000);
    assert.deepEqual(info.all_seeds, [1000, 1001, 1002, 1003]);
    assert.equal(info.sampler_name, 'Euler a');
    assert.equal(info.sd_model_name, 'tiny-sd15');
    assert.equal(info.batch_size, 2);
    assert.equal(info.n_iter, 2);
    assert.equal(info.device, 'cpu');
    assert.ok(info.timings_ms.onnx_run_ms > 0);
    assert.ok(reply.events.some((e) => /text_encoded/.test(e)));
    assert.equal(reply.events.filter((e) => /sampling: first pass step/.test(e)).length, 3 * 2);
    assert.ok(reply.events.some((e) => /decoded/.test(e)));
  });

  it('reproduces: the same request gives byte-identical PNGs; another seed differs', async () => {
    const a = await generate(c, request({ seed: 7 }));
    const b = await generate(c, request({ seed: 7 }));
    const d = await generate(c, request({ seed: 8 }));
    assert.deepEqual(a.images[0], b.images[0]);
    assert.notDeepEqual(pixels(a.images[0]!), pixels(d.images[0]!));
  });

  it('gives an image the same pixels alone or inside a batch (image i uses seed + i)', async () => {
    const alone = await generate(c, request({ seed: 501 }));
    const batch = await generate(c, request({ seed: 500, batchSize: 2 }));
    assert.deepEqual(pixels(alone.images[0]!), pixels(batch.images[1]!));
  });

  it('reports a random seed when asked for -1', async () => {
    const info = JSON.parse((await generate(c, request({ seed: -1 }))).info);
    assert.equal(info.seed_was_random, true);
    assert.ok(Number.isInteger(info.seed) && info.seed >= 0);
  });

  it('runs the SD 2.x v-prediction model, and every sampler by name', async () => {
    for (const sampler of ['Euler a', 'euler', 'Heun', 'DDIM', 'dpmpp_2m', 'DPM++ 2M Karras', 'DPM++ 2M SDE Karras', 'k_dpmpp_sde_ka', 'unipc', 'LCM']) {
      const reply = await generate(c, request({ model: 'tiny-sd2-v', sampler, steps: 2 }));
      assert.equal(reply.images.length, 1, sampler);
      assert.equal(JSON.parse(reply.info).prediction_type, 'v_prediction');
    }
  });

  it('does the hires fix: twice the size, a second pass of denoising_strength × steps', async () => {
    const reply = await generate(c, request({ enableHr: true, steps: 4, width: 64, height: 64 }));
    const png = PNG.sync.read(Buffer.from(reply.images[0]!));
    assert.deepEqual([png.width, png.height], [128, 128]);
    assert.equal(reply.events.filter((e) => /second pass step/.test(e)).length, Math.floor(0.7 * 4));
    assert.equal(JSON.parse(reply.info).denoising_strength, 0.7);
  });

  it('truncates an over-long prompt and says so in the events', async () => {
    const reply = await generate(c, request({ prompt: Array.from({ length: 120 }, () => 'cat').join(' ') }));
    assert.ok(reply.events.some((e) => /prompt truncated to 75 tokens \(it had 120\)/.test(e)), reply.events.join('\n'));
  });

  for (const [name, overrides, code, pattern] of [
    ['an unknown model', { model: 'nope' }, status.NOT_FOUND, /model "nope" is not installed \(installed: [^)]*\); install one with `dts-util models pull REPO` .* or `dts-util models upload FOLDER` .*choose it with `dts-util generate --model NAME`/],
    ['an unknown sampler', { sampler: 'Warp Drive' }, status.INVALID_ARGUMENT, /Euler a.*DPM\+\+ 2M/],
    ['a width that is not a multiple of 8', { width: 100 }, status.INVALID_ARGUMENT, /^width: /],
    ['too many steps', { steps: 500 }, status.INVALID_ARGUMENT, /^steps: /],
    ['restore_faces', { restoreFaces: true }, status.FAILED_PRECONDITION, /face-restoration/],
    ['a request too big for memory', { width: 2048, height: 2048, batchSize: 8, model: 'tiny-sd15' }, status.RESOURCE_EXHAUSTED, /GiB/],
  ] as const) {
    it(`answers ${name} with ${status[code]}, and keeps serving`, async () => {
      const error = await grpcError(generate(c, request(overrides)));
      assert.equal(error.code, code, error.details);
      assert.match(error.details, pattern);
      assert.equal((await echo(c)).message, 'HELLO');
    });
  }

  it('streams progress step by step, then the same result GenerateImage gives', async () => {
    const messages: ImageGenerationProgress[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = c.service.generateImageStream(request({ seed: 7 }));
      call.on('data', (m: ImageGenerationProgress) => messages.push(m));
      call.on('end', resolve);
      call.on('error', reject);
    });
    const steps = messages.filter((m) => m.stage === 'sampling').map((m) => m.step);
    assert.deepEqual(steps, [1, 2, 3]);
    const last = messages.at(-1)!;
    assert.equal(last.stage, 'done');
    const unary = await generate(c, request({ seed: 7 }));
    assert.deepEqual(last.result!.images[0], unary.images[0]);
  });

  it('keeps answering Echo while a generation runs', async () => {
    const seen: number[] = [];
    const call = c.service.generateImageStream(request({ steps: 150, width: 512, height: 512 }));
    const ended = new Promise((resolve) => call.on('error', resolve));
    await new Promise<void>((resolve) =>
      call.on('data', (m: ImageGenerationProgress) => {
        if (m.stage === 'sampling') seen.push(m.step);
        if (m.step === 2) resolve();
      }),
    );
    assert.equal((await echo(c)).message, 'HELLO');
    assert.ok(seen.at(-1)! < 150, 'Echo was answered only after the generation finished');
    call.cancel();
    await ended;
  });

  it('stops a cancelled generation at the next step and frees the worker for the next job', async () => {
    const call = c.service.generateImageStream(request({ steps: 150, width: 512, height: 512 }));
    const error = new Promise<ServiceError>((resolve) => call.on('error', resolve));
    await new Promise<void>((resolve) => call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && m.step === 2 && resolve()));
    call.cancel();
    assert.equal((await error).code, status.CANCELLED);
    // The next job runs at once, instead of waiting behind 148 abandoned steps.
    const reply = await generate(c, request({ steps: 1 }), 60_000);
    assert.equal(reply.images.length, 1);
    assert.ok(t.server.engine.queueDepth === 0 && !t.server.engine.busy);
  });

  it('answers RESOURCE_EXHAUSTED when the queue is full (max-queue 1)', async () => {
    const long = () => generate(c, request({ steps: 20, width: 256, height: 256 }));
    const first = long();
    await waitUntil(() => t.server.engine.busy);
    const second = long();
    await waitUntil(() => t.server.engine.queueDepth === 1);
    const third = await grpcError(generate(c, request()));
    assert.equal(third.code, status.RESOURCE_EXHAUSTED);
    assert.match(third.details, /queue is full/);
    await Promise.all([first, second]);
  });

  it('honours a deadline: the call ends with DEADLINE_EXCEEDED and the worker is free again', async () => {
    const error = await grpcError(generate(c, request({ steps: 150, width: 512, height: 512 }), 500));
    assert.equal(error.code, status.DEADLINE_EXCEEDED);
    assert.equal((await generate(c, request({ steps: 1 }), 60_000)).images.length, 1);
  });

  it('runs generations in a lower-priority worker process; one that dies fails only its own call', async () => {
    const call = c.service.generateImageStream(request({ steps: 150, width: 512, height: 512 }));
    const error = new Promise<ServiceError>((resolve) => call.on('error', resolve));
    await new Promise<void>((resolve) => call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && m.step === 1 && resolve()));
    const pid = t.server.engine.workerPid!;
    assert.notEqual(pid, process.pid);
    assert.equal(os.getPriority(pid), 10, 'the worker process runs at niceness 10');
    process.kill(pid, 'SIGKILL'); // as a crash in a native kernel would end it
    const failed = await error;
    assert.equal(failed.code, status.INTERNAL);
    assert.equal((await echo(c)).message, 'HELLO');
    // The next job starts a new worker, which loads the model again; it gets no secrets.
    process.env.DD_API_KEY = 'dd-key-for-the-worker-test';
    try {
      assert.equal((await generate(c, request({ steps: 1 }), 60_000)).images.length, 1);
      const next = t.server.engine.workerPid!;
      assert.notEqual(next, pid);
      const environment = fs.readFileSync(`/proc/${next}/environ`, 'utf8');
      assert.ok(environment.includes('PATH=') && !environment.includes('dd-key-for-the-worker-test'));
    } finally {
      delete process.env.DD_API_KEY;
    }
  });
});

describe('stopping the server', () => {
  it('ends the worker process before stop() resolves', async () => {
    const t = await startTestServer();
    assert.equal((await generate(t.client(), request({ model: 'smoke', steps: 1 }))).images.length, 1);
    const pid = t.server.engine.workerPid!;
    await t.stop();
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });
});

describe('model choice', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('with no model installed, an empty model field gets NOT_FOUND saying how to add one; "smoke" is built in', async () => {
    const c = t.client();
    const error = await grpcError(generate(c, request()));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /^no model is installed; install one with `dts-util models pull REPO` \(from a model hub\) or `dts-util models upload FOLDER` \(a Stable Diffusion folder in the diffusers ONNX layout/);
    assert.match(error.details, /`dts-util generate --model NAME`.*"smoke".*`--model smoke`/);
    assert.doesNotMatch(error.details, /UploadFile/, 'users run commands, not RPCs');
    const smoke = await generate(c, request({ model: 'smoke', steps: 1 }));
    assert.equal(smoke.images.length, 1);
  });

  it('with one model installed, an empty model field uses it; with two, the request must name one', async () => {
    const c = t.client();
    await installTinyModels(t.settings.modelsDir, { sd15: 'only-one' });
    assert.equal(JSON.parse((await generate(c, request({ steps: 1 }))).info).sd_model_name, 'only-one');
    await installTinyModels(t.settings.modelsDir, { sd2v: 'second' });
    const error = await grpcError(generate(c, request({ steps: 1 })));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /only-one, second/);
  });
});

function pixels(png: Uint8Array): Buffer {
  return PNG.sync.read(Buffer.from(png)).data;
}
