import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { hasVaeEncoder } from '../../src/diffusion/model-spec.js';

describe('hasVaeEncoder: whether a model folder can run img2img and inpainting', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-vae-encoder-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is true only once vae_encoder/model.onnx is there, not for the folder or its config alone', () => {
    assert.equal(hasVaeEncoder(dir), false);
    fs.mkdirSync(path.join(dir, 'vae_encoder'));
    fs.writeFileSync(path.join(dir, 'vae_encoder', 'config.json'), '{}');
    assert.equal(hasVaeEncoder(dir), false);
    fs.writeFileSync(path.join(dir, 'vae_encoder', 'model.onnx'), '');
    assert.equal(hasVaeEncoder(dir), true);
  });
});
