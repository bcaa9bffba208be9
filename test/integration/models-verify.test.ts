import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { verifyModel } from '../../src/models/verify.js';
import { installTinyModels } from '../helpers/tiny-models.js';

describe('models verify (library): every part loaded with ONNX Runtime', () => {
  let modelsDir: string;
  before(async () => {
    modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-verify-'));
    await installTinyModels(modelsDir, { sd15: 'good', sd2v: 'sd2' });
    // An SD 2.x text encoder (48 wide) in an SD 1.x folder whose UNet expects 32: each part loads, together they do not fit.
    fs.cpSync(path.join(modelsDir, 'good'), path.join(modelsDir, 'mixed'), { recursive: true });
    fs.cpSync(path.join(modelsDir, 'sd2', 'text_encoder'), path.join(modelsDir, 'mixed', 'text_encoder'), { recursive: true });
    fs.cpSync(path.join(modelsDir, 'good'), path.join(modelsDir, 'truncated'), { recursive: true });
    fs.cpSync(path.join(modelsDir, 'good'), path.join(modelsDir, 'holes'), { recursive: true });
    fs.cpSync(path.join(modelsDir, 'good'), path.join(modelsDir, 'bad-encoder'), { recursive: true });
    fs.cpSync(path.join(modelsDir, 'good'), path.join(modelsDir, 'no-encoder'), { recursive: true });
  });
  after(() => fs.rmSync(modelsDir, { recursive: true, force: true }));

  it('reports a sound model as ok, with each part and its inputs', async () => {
    const result = await verifyModel(modelsDir, 'good');
    assert.equal(result.ok, true, result.problems.join('; '));
    assert.deepEqual(result.problems, []);
    assert.equal(result.family, 'sd1');
    assert.deepEqual(result.parts.map((p) => [p.part, p.ok]), [['text_encoder', true], ['unet', true], ['vae_decoder', true], ['vae_encoder', true], ['tokenizer', true]]);
    assert.ok(result.parts.find((p) => p.part === 'unet')!.inputs!.includes('encoder_hidden_states'));
    assert.deepEqual(result.parts.find((p) => p.part === 'vae_encoder')!.inputs, ['sample']);
    assert.deepEqual([result.vaeEncoder, result.notes], [true, []]);
  });

  it('names the vae_encoder when its model.onnx is broken: img2img would fail on it', async () => {
    fs.writeFileSync(path.join(modelsDir, 'bad-encoder', 'vae_encoder', 'model.onnx'), 'not an onnx file');
    const result = await verifyModel(modelsDir, 'bad-encoder');
    assert.equal(result.ok, false);
    assert.deepEqual(result.parts.filter((p) => !p.ok).map((p) => p.part), ['vae_encoder']);
    assert.equal(result.problems.length, 1);
    assert.match(result.problems[0]!, /^vae_encoder\/model.onnx cannot be loaded by ONNX Runtime: /);
  });

  it('a model without a VAE encoder is sound, with a note that img2img and inpainting are unavailable', async () => {
    fs.rmSync(path.join(modelsDir, 'no-encoder', 'vae_encoder'), { recursive: true });
    const result = await verifyModel(modelsDir, 'no-encoder');
    assert.equal(result.ok, true, result.problems.join('; '));
    assert.equal(result.family, 'sd1');
    assert.ok(!result.parts.some((p) => p.part === 'vae_encoder'));
    assert.deepEqual([result.vaeEncoder, result.notes], [false, ['no vae_encoder: img2img and inpainting unavailable']]);
  });

  it('names the UNet when its model.onnx is truncated, and passes the other parts', async () => {
    const unet = path.join(modelsDir, 'truncated', 'unet', 'model.onnx');
    fs.truncateSync(unet, Math.floor(fs.statSync(unet).size / 2));
    const result = await verifyModel(modelsDir, 'truncated');
    assert.equal(result.ok, false);
    assert.deepEqual(result.parts.filter((p) => !p.ok).map((p) => p.part), ['unet']);
    assert.equal(result.problems.length, 1);
    assert.match(result.problems[0]!, /^unet\/model.onnx cannot be loaded by ONNX Runtime: /);
    assert.ok(!result.problems[0]!.includes(modelsDir), 'paths are relative to the model');
  });

  it('loads every part of a mixed-up folder and still reports shapes that disagree', async () => {
    const result = await verifyModel(modelsDir, 'mixed');
    assert.equal(result.ok, false);
    assert.ok(result.parts.every((p) => p.ok));
    assert.ok(result.problems.some((p) => /cross-attention width is 32 but the text encoders give 48/.test(p)), result.problems.join('; '));
  });

  it('lists missing files and a tokenizer that cannot be read', async () => {
    fs.rmSync(path.join(modelsDir, 'holes', 'vae_decoder', 'model.onnx'));
    fs.writeFileSync(path.join(modelsDir, 'holes', 'tokenizer', 'vocab.json'), '{ not json');
    const result = await verifyModel(modelsDir, 'holes');
    assert.equal(result.ok, false);
    assert.ok(result.problems.includes('missing vae_decoder/model.onnx'), result.problems.join('; '));
    assert.ok(result.problems.some((p) => p.startsWith('tokenizer cannot be read: ')), result.problems.join('; '));
  });

  it('an unknown name is a usage error that lists the installed models', async () => {
    await assert.rejects(verifyModel(modelsDir, 'nope'), (e: Error) => e.name === 'UsageError' && /no model named nope in .* \(installed: bad-encoder, good, holes, mixed, no-encoder, sd2, truncated, smoke\)/.test(e.message));
  });
});
