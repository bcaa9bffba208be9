import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PNG } from 'pngjs';
import * as ort from 'onnxruntime-node';

import { unaryCall } from '../../src/client/client.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { buildPipeline, TINY_SD15, type PipelineConfig } from '../../tools/model-builder/pipeline.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** An export of the older/fp16 kind: int64 ids and timestep, scalar timestep, fp16 weights and I/O, model.onnx_data. */
const FP16_INT64_EXTERNAL: PipelineConfig = {
  ...TINY_SD15,
  name: 'fp16-int64-external',
  textEncoder: { ...TINY_SD15.textEncoder, inputIdsDType: 'int64' },
  unet: { ...TINY_SD15.unet, timestep: { dtype: 'int64', rank: 0 } },
  weights: { dtype: 'float16', externalData: true, io: 'float16' },
};

describe('exports in the wild: dtypes and layouts read from the sessions', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({});
    await buildPipeline(path.join(t.settings.modelsDir, 'variant'), FP16_INT64_EXTERNAL, { seed: 5 });
  });
  after(() => t.stop());

  it('the built variant really has fp16 tensors, int64 ids and timestep, and external weights', async () => {
    const unet = await ort.InferenceSession.create(path.join(t.settings.modelsDir, 'variant', 'unet', 'model.onnx'));
    const types = Object.fromEntries(unet.inputMetadata.map((m) => [m.name, m.isTensor ? [m.type, m.shape.length] : []]));
    assert.deepEqual(types, { sample: ['float16', 4], timestep: ['int64', 0], encoder_hidden_states: ['float16', 3] });
    const text = await ort.InferenceSession.create(path.join(t.settings.modelsDir, 'variant', 'text_encoder', 'model.onnx'));
    assert.equal(text.inputMetadata[0]!.isTensor && text.inputMetadata[0]!.type, 'int64');
  });

  it('generates from it, reproducibly', async () => {
    const c = t.client();
    const generate = (r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);
    const a = await generate(request({ model: 'variant', steps: 2, seed: 3 }));
    const b = await generate(request({ model: 'variant', steps: 2, seed: 3 }));
    const png = PNG.sync.read(Buffer.from(a.images[0]!));
    assert.deepEqual([png.width, png.height], [64, 64]);
    assert.deepEqual(a.images[0], b.images[0]);
    // Not a flat image: fp16 conversion errors would show as NaN → black, or a constant.
    assert.ok(new Set(png.data).size > 16);
  });
});

describe('a GPU asked for where there is none', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ device: 'cuda' });
    await buildPipeline(path.join(t.settings.modelsDir, 'm'), TINY_SD15, { seed: 1 });
  });
  after(() => t.stop());

  it('falls back to the CPU, generates, and reports why in info', async () => {
    const c = t.client();
    const reply = await unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ steps: 1 }), 120_000);
    const info = JSON.parse(reply.info);
    assert.equal(info.device, 'cpu');
    assert.ok(info.device_fallbacks.length > 0 && info.device_fallbacks.every((f: string) => f.startsWith('cuda: ')), JSON.stringify(info.device_fallbacks));
    assert.equal(reply.images.length, 1);
  });
});
