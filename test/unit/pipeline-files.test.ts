import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pipelineFiles } from '../../src/models/pipeline-files.js';

const SD15 = [
  'model_index.json',
  'README.md',
  'scheduler/scheduler_config.json',
  'text_encoder/model.onnx',
  'tokenizer/vocab.json',
  'unet/model.onnx',
  'unet/model.onnx_data',
  'unet/diffusion_pytorch_model.safetensors',
  'vae_decoder/model.onnx',
  'safety_checker/model.onnx',
];
const ENCODER = ['vae_encoder/config.json', 'vae_encoder/model.onnx', 'vae_encoder/diffusion_pytorch_model.safetensors'];
const select = (paths: string[]) => {
  const { files, missing } = pipelineFiles(paths.map((path) => ({ path })));
  return { files: files.map((f) => f.path), missing };
};

describe('pipelineFiles: what models pull fetches', () => {
  it('takes the VAE encoder (img2img, inpainting) with its config, not its PyTorch weights', () => {
    const { files, missing } = select([...SD15, ...ENCODER]);
    assert.deepEqual(files.filter((f) => f.startsWith('vae_encoder/')), ['vae_encoder/config.json', 'vae_encoder/model.onnx']);
    assert.deepEqual(missing, []);
  });

  it('a repository without a VAE encoder is complete: text-to-image does not need one', () => {
    const { files, missing } = select(SD15);
    assert.deepEqual(missing, []);
    assert.deepEqual(files, ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/model.onnx', 'tokenizer/vocab.json', 'unet/model.onnx', 'unet/model.onnx_data', 'vae_decoder/model.onnx']);
  });

  it('a VAE encoder does not stand in for the decoder', () => {
    assert.deepEqual(select([...SD15.filter((f) => !f.startsWith('vae_decoder/')), ...ENCODER]).missing, ['vae_decoder/model.onnx']);
  });
});
