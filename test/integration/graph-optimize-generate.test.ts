import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { decodeOwnPng } from '../../src/diffusion/png.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { FAMILY_CONFIGS } from '../../tools/model-builder/pipeline.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installTinyModels } from '../helpers/tiny-models.js';

const generate = (c: Connection, r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);

/** The largest difference, out of 255, between two pictures that count as the same (fp16 rounding in fused kernels). */
const SAME_PICTURE = 4;

/*
 * The optimizer rewrites how attention is computed, never what: for every family the builder
 * makes, the same request gives the same picture (within rounding) on a server that optimizes
 * and on one started with --no-graph-optimize.
 */
describe('graph optimization through gRPC: the same seed, the same picture', () => {
  const families = ['tiny-sd15', 'tiny-sd2-v', ...Object.keys(FAMILY_CONFIGS)];
  let optimizing: TestServer;
  let plain: TestServer;
  before(async () => {
    optimizing = await startTestServer({ device: 'cpu' });
    plain = await startTestServer({ device: 'cpu', graphOptimize: false });
    for (const server of [optimizing, plain]) {
      await installTinyModels(server.settings.modelsDir);
      await installFamilyModels(server.settings.modelsDir);
    }
  });
  after(async () => {
    await optimizing.stop();
    await plain.stop();
  });

  for (const model of families) {
    it(`${model}: within ${SAME_PICTURE}/255 with and without the optimizer, and the load says what was fused`, async () => {
      const asked = request({ model, seed: 11, steps: 2, width: 64, height: 64, sampler: '' });
      const [fast, slow] = await Promise.all([generate(optimizing.client(), asked), generate(plain.client(), asked)]);
      const a = decodeOwnPng(fast.images[0]!).rgb;
      const b = decodeOwnPng(slow.images[0]!).rgb;
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      assert.ok(maxDiff <= SAME_PICTURE, `${model}: pictures differ by ${maxDiff}/255`);
      const load = fast.events.find((e) => e.includes(`model ${model} loaded`))!;
      assert.match(load, /; graph optimizer fused text_encoder: \d+ MultiHeadAttention; (text_encoder_2: \d+ MultiHeadAttention; )?unet: \d+ MultiHeadAttention/, load);
      assert.ok(!slow.events.some((e) => e.includes('graph optimizer')), 'the --no-graph-optimize server optimized');
      // The optimized graph is cached beside the part, hidden; the plain server wrote nothing there.
      assert.ok(fs.existsSync(path.join(optimizing.settings.modelsDir, model, 'unet', '.model.dts-util-cpu.onnx')));
      assert.deepEqual(fs.readdirSync(path.join(plain.settings.modelsDir, model, 'unet')).filter((f) => f.startsWith('.')), []);
    });
  }
});
