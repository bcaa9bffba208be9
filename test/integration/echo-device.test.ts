import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { checkEcho } from '../../src/client/check-echo.js';
import { unaryCall } from '../../src/client/client.js';
import { UsageError } from '../../src/config/errors.js';
import { resolveServerSettings } from '../../src/config/settings.js';
import type { ImageGenerationRequest, ImageGenerationResponse, ServerStatusRequest, ServerStatusResponse } from '../../src/generated/image_generation.js';
import { createLogger } from '../../src/log/logger.js';
import { PACKAGE_VERSION } from '../../src/util/package-root.js';
import { startServer } from '../../src/server/server.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { echo } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { tempHome } from '../helpers/temp-home.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// CI and these machines have no GPU (shared/FACTS.md): no NVIDIA driver, no CUDA provider, and
// no Vulkan GPU driver, so WebGPU cannot start either (with or without a Vulkan loader installed).
const NO_CUDA = /^cuda: not usable: no NVIDIA GPU visible/;
const NO_WEBGPU = /^webgpu: not usable: (no Vulkan loader \(libvulkan\.so\.1\)|.*a test model failed)/;

describe('Echo on a machine with no GPU, device auto', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('reports the CPU, why no GPU was chosen, every device found, and the version', async () => {
    const reply = await echo(t.client());
    assert.equal(reply.message, 'HELLO');
    assert.equal(reply.device, 'cpu');
    assert.match(reply.deviceReason, /^auto: no GPU is usable \(cuda: no NVIDIA GPU visible.*; webgpu: .+\)$/);
    assert.equal(reply.devices.length, 3);
    assert.match(reply.devices[0]!, NO_CUDA);
    assert.match(reply.devices[1]!, NO_WEBGPU);
    assert.match(reply.devices[2]!, /^cpu: usable: .+, \d+ threads$/);
    assert.equal(reply.serverVersion, PACKAGE_VERSION);
    assert.equal(t.server.devices.chosen, 'cpu');
  });

  it('ServerStatus reports the device chosen, not the "auto" asked for', async () => {
    const { service } = t.client();
    const status = await unaryCall<ServerStatusRequest, ServerStatusResponse>(service, service.serverStatus, {}, 10_000);
    assert.equal(status.device, 'cpu');
  });

  it("dts-util test's echo check prints the device and why, and gives the devices under --json", async () => {
    const check = await checkEcho(t.client(), 10_000, 2);
    assert.equal(check.ok, true, check.detail);
    assert.match(check.detail, /^Echo answered HELLO 2 times: p50 [\d.]+ ms, max [\d.]+ ms; device cpu \(auto: no GPU is usable \(cuda: .*\)\)$/);
    assert.equal(check.device?.chosen, 'cpu');
    assert.deepEqual(check.device?.found.map((line) => line.split(':')[0]), ['cuda', 'webgpu', 'cpu']);
  });
});

describe('--device webgpu on a machine where WebGPU cannot start', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ device: 'webgpu' });
    await buildPipeline(path.join(t.settings.modelsDir, 'm'), TINY_SD15, { seed: 1 });
  });
  after(() => t.stop());

  it('starts on the CPU, and Echo says WebGPU was asked for, why it is not usable, and how to make it an error', async () => {
    const reply = await echo(t.client());
    assert.equal(reply.device, 'cpu');
    assert.match(reply.deviceReason, /^webgpu was asked for but is not usable \(.+\); falling back to cpu \(--no-device-fallback makes this an error\)$/);
  });

  it('generates on the CPU; info and the log line give the reason WebGPU failed', async () => {
    const c = t.client();
    const reply = await unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ steps: 1 }), 120_000);
    const info = JSON.parse(reply.info);
    assert.equal(info.device, 'cpu');
    // Each part's load tried WebGPU first for real (the start-up probe is advisory); ORT's refusal is said once.
    assert.equal(info.device_fallbacks.length, 1);
    assert.match(info.device_fallbacks[0], /^webgpu: \S/);
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'generation');
    assert.deepEqual([line?.level, line?.device, line?.deviceFallbacks], ['warn', 'cpu', info.device_fallbacks]);
  });
});

describe('--device webgpu --no-device-fallback where WebGPU cannot start', () => {
  it('refuses to start, before listening, with what is wrong and what to do', async () => {
    const home = tempHome();
    try {
      const settings = resolveServerSettings({ port: 0, device: 'webgpu', deviceFallback: false }, home.env);
      const logs: string[] = [];
      await assert.rejects(startServer(settings, createLogger({ write: (l) => logs.push(l) })), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /^device webgpu was asked for with device fallback off \(--no-device-fallback\), but it is not usable here: .+/);
        assert.match(error.suggestion!, /--device auto.*drop --no-device-fallback to run on cpu instead/);
        return true;
      });
      assert.deepEqual(logs, []);
    } finally {
      home.cleanup();
    }
  });
});
