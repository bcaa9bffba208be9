import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { checkModels } from '../../src/client/check-models.js';
import { unaryCall } from '../../src/client/client.js';
import type { ListModelsRequest, ListModelsResponse } from '../../src/generated/image_generation.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installTinyModels } from '../helpers/tiny-models.js';

describe('ListModels', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ defaultModel: 'tiny-sd2-v' });
    await installTinyModels(t.settings.modelsDir);
  });
  after(() => t.stop());

  const list = async () => (await unaryCall<ListModelsRequest, ListModelsResponse>(t.client().service, t.client().service.listModels, {}, 10_000)).models;

  it('lists installed models with their parts, size and prediction type, the default marked, then the built-in smoke', async () => {
    const models = await list();
    assert.deepEqual(models.map((m) => [m.name, m.isDefault, m.builtin, m.complete, m.predictionType]), [
      ['tiny-sd15', false, false, true, 'epsilon'],
      ['tiny-sd2-v', true, false, true, 'v_prediction'],
      ['smoke', false, true, true, 'epsilon'],
    ]);
    const sd15 = models[0]!;
    assert.deepEqual(sd15.parts, ['unet', 'text_encoder', 'vae_decoder', 'vae_encoder', 'tokenizer', 'scheduler']);
    const onDisk = fs.readdirSync(path.join(t.settings.modelsDir, 'tiny-sd15'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((n, e) => n + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
    assert.equal(sd15.sizeBytes, onDisk);
  });

  it('lists vae_encoder as a part only with its model.onnx; a model without one is still complete and loadable', async () => {
    const bare = path.join(t.settings.modelsDir, 'no-encoder');
    fs.cpSync(path.join(t.settings.modelsDir, 'tiny-sd15'), bare, { recursive: true });
    // What a half-copied encoder leaves: its config.json, no model.
    fs.rmSync(path.join(bare, 'vae_encoder', 'model.onnx'));
    try {
      const model = (await list()).find((m) => m.name === 'no-encoder')!;
      assert.deepEqual(model.parts, ['unet', 'text_encoder', 'vae_decoder', 'tokenizer', 'scheduler']);
      assert.deepEqual([model.complete, model.loadable, model.problem], [true, true, '']);
    } finally {
      fs.rmSync(bare, { recursive: true });
    }
  });

  it("says what an incomplete model lacks, and dts-util test's models check fails on it", async () => {
    const broken = path.join(t.settings.modelsDir, 'half-uploaded');
    fs.mkdirSync(path.join(broken, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(broken, 'model_index.json'), '{}');
    try {
      const model = (await list()).find((m) => m.name === 'half-uploaded')!;
      assert.equal(model.complete, false);
      assert.deepEqual(model.missing, ['unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx', 'tokenizer', 'scheduler/scheduler_config.json']);
      const check = await checkModels(t.client(), 10_000);
      assert.equal(check.ok, false);
      assert.match(check.detail, /model half-uploaded is incomplete: missing unet\/model\.onnx/);
    } finally {
      fs.rmSync(broken, { recursive: true });
    }
    const healthy = await checkModels(t.client(), 10_000);
    assert.equal(healthy.ok, true);
    assert.match(healthy.detail, /^2 installed: tiny-sd15 \(sd1\), tiny-sd2-v \(sd2, default\), smoke \(sd1, built in\)$/);
  });
});
