import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';

import { inspectModelFolder, type ModelSpec } from '../../src/diffusion/model-spec.js';
import { readOnnxSignature } from '../../src/diffusion/onnx-signature.js';
import { buildPipeline, TINY_SD15, TINY_SD2_V } from '../../tools/model-builder/pipeline.js';
import { installFamilyModels } from '../helpers/family-models.js';

describe('what a model folder is, read from its files', () => {
  let dir: string;
  const spec = (name: string): ModelSpec => {
    const inspection = inspectModelFolder(path.join(dir, name));
    assert.ok(inspection.spec, `${name}: ${inspection.problems?.join('; ')}`);
    return inspection.spec;
  };
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'families-spec-'));
    await installFamilyModels(dir);
    await buildPipeline(path.join(dir, 'tiny-sd15'), TINY_SD15, { seed: 1 });
    await buildPipeline(path.join(dir, 'tiny-sd2-v'), TINY_SD2_V, { seed: 1 });
    await buildPipeline(path.join(dir, 'external-fp16'), { ...TINY_SD15, name: 'external-fp16', weights: { dtype: 'float16', io: 'float16', externalData: true } }, { seed: 1 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('families and their defaults', () => {
    const rows = ['tiny-sd15', 'tiny-sd2-v', 'tiny-sdxl', 'tiny-sdxl-turbo', 'tiny-sd-turbo', 'tiny-lcm', 'tiny-lcm-sdxl', 'tiny-sdxl-fp16', 'tiny-lcm-fp16', 'tiny-sd-turbo-fp16'].map((name) => {
      const s = spec(name);
      return [name, s.family, s.defaults.size, s.defaults.steps, s.defaults.cfgScale, s.defaults.sampler];
    });
    assert.deepEqual(rows, [
      // The tiny SD 1.x/2.x builds are 64 px natively; SDXL's sample_size 128 is 1024 px.
      ['tiny-sd15', 'sd1', 64, 20, 7, 'Euler a'],
      ['tiny-sd2-v', 'sd2', 64, 20, 7, 'Euler a'],
      ['tiny-sdxl', 'sdxl', 1024, 20, 7, 'Euler a'],
      ['tiny-sdxl-turbo', 'sdxl-turbo', 512, 1, 0, 'Euler a'],
      ['tiny-sd-turbo', 'sd-turbo', 512, 1, 0, 'Euler a'],
      ['tiny-lcm', 'lcm-sd1', 64, 4, 8.5, 'LCM'],
      ['tiny-lcm-sdxl', 'lcm-sdxl', 1024, 4, 8.5, 'LCM'],
      ['tiny-sdxl-fp16', 'sdxl', 1024, 20, 7, 'Euler a'],
      ['tiny-lcm-fp16', 'lcm-sd1', 64, 4, 8.5, 'LCM'],
      ['tiny-sd-turbo-fp16', 'sd-turbo', 512, 1, 0, 'Euler a'],
    ]);
  });

  it('an LCM scheduler without timestep_cond (LCM-LoRA fused) is LCM with ordinary CFG, off by default', async () => {
    await buildPipeline(path.join(dir, 'lcm-lora'), { ...TINY_SD15, name: 'lcm-lora', scheduler: 'LCMScheduler' }, { seed: 1 });
    const s = spec('lcm-lora');
    assert.deepEqual([s.family, s.timestepCondDim, s.defaults.steps, s.defaults.cfgScale, s.defaults.sampler], ['lcm-sd1', undefined, 4, 1, 'LCM']);
  });

  it('SDXL: both encoders by their penultimate hidden states, pooled text_embeds, VAE scaling and zeros for an empty negative', () => {
    const s = spec('tiny-sdxl');
    assert.deepEqual(s.encoders, [
      { folder: 'text_encoder', tokenizer: 'tokenizer', hiddenOutput: 'hidden_states.1', hiddenSize: 32 },
      { folder: 'text_encoder_2', tokenizer: 'tokenizer_2', hiddenOutput: 'hidden_states.1', hiddenSize: 48, pooledOutput: 'text_embeds' },
    ]);
    assert.deepEqual([s.contextDim, s.textEmbedsDim, s.timestepCondDim, s.vaeScaling, s.forceZerosForEmptyPrompt], [80, 16, undefined, 0.13025, true]);
    const sd15 = spec('tiny-sd15');
    assert.deepEqual([sd15.encoders[0]!.hiddenOutput, sd15.vaeScaling, sd15.forceZerosForEmptyPrompt, sd15.textEmbedsDim], ['last_hidden_state', 0.18215, false, undefined]);
    assert.equal(spec('tiny-lcm').timestepCondDim, 16);
  });

  it('the builder writes the folders as exports do: pipeline classes, projection_dim, trailing spacing, text_time', () => {
    const json = (name: string, file: string) => JSON.parse(fs.readFileSync(path.join(dir, name, file), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(
      ['tiny-sd15', 'tiny-sdxl', 'tiny-lcm', 'tiny-lcm-sdxl'].map((name) => json(name, 'model_index.json')['_class_name']),
      ['OnnxStableDiffusionPipeline', 'ORTStableDiffusionXLPipeline', 'ORTLatentConsistencyModelPipeline', 'ORTLatentConsistencyModelPipeline'],
    );
    const index = json('tiny-sdxl', 'model_index.json');
    assert.deepEqual([index['text_encoder_2'], index['tokenizer_2'], index['force_zeros_for_empty_prompt']], [['diffusers', 'OnnxRuntimeModel'], ['transformers', 'CLIPTokenizer'], true]);
    const encoder2 = json('tiny-sdxl', 'text_encoder_2/config.json');
    assert.deepEqual([encoder2['architectures'], encoder2['projection_dim'], encoder2['hidden_size']], [['CLIPTextModelWithProjection'], 16, 48]);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'tiny-sdxl', 'tokenizer_2', 'special_tokens_map.json'), 'utf8')).pad_token, '!');
    const unet = json('tiny-sdxl', 'unet/config.json');
    assert.deepEqual([unet['addition_embed_type'], unet['projection_class_embeddings_input_dim'], unet['cross_attention_dim'], unet['sample_size']], ['text_time', 16 + 6 * 8, 80, 128]);
    assert.deepEqual((unet['down_block_types'] as string[])[0], 'DownBlock2D');
    assert.equal(json('tiny-lcm', 'unet/config.json')['time_cond_proj_dim'], 16);
    assert.deepEqual(['tiny-sdxl', 'tiny-sdxl-turbo', 'tiny-sd-turbo'].map((name) => json(name, 'scheduler/scheduler_config.json')['timestep_spacing']), ['leading', 'trailing', 'trailing']);
    assert.equal(json('tiny-sdxl', 'vae_decoder/config.json')['scaling_factor'], 0.13025);
  });

  it("an ONNX file's inputs and outputs read without loading it are what ONNX Runtime reports", async () => {
    const files = ['tiny-sdxl', 'tiny-lcm-fp16', 'external-fp16'].flatMap((name) =>
      ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder'].map((part) => path.join(dir, name, part, 'model.onnx')).filter((file) => fs.existsSync(file)),
    );
    assert.equal(files.length, 10);
    for (const file of files) {
      const session = await ort.InferenceSession.create(file);
      const signature = readOnnxSignature(file);
      const fromOrt = session.inputMetadata.map((m) => [m.name, m.isTensor ? m.type : '', m.isTensor ? [...m.shape] : []]);
      assert.deepEqual([...signature.inputs].map(([name, s]) => [name, s.type, s.shape]), fromOrt, file);
      assert.deepEqual([...signature.outputs.keys()], [...session.outputNames], file);
      await session.release();
    }
  });

  it('refuses a file that is not ONNX with a message naming it', () => {
    const bogus = path.join(dir, 'bogus.onnx');
    fs.writeFileSync(bogus, 'version https://git-lfs.github.com/spec/v1\n');
    assert.throws(() => readOnnxSignature(bogus), /bogus\.onnx is not a readable ONNX model/);
  });

  it('answers from its cache until a file it read changes', () => {
    const folder = path.join(dir, 'tiny-sd15');
    assert.equal(inspectModelFolder(folder), inspectModelFolder(folder));
    const config = path.join(folder, 'text_encoder', 'config.json');
    const original = fs.readFileSync(config, 'utf8');
    fs.writeFileSync(config, original.replace('"quick_gelu"', '"relu"  '));
    try {
      assert.match(inspectModelFolder(folder).problems?.join('; ') ?? '', /unknown model family/);
    } finally {
      fs.writeFileSync(config, original);
    }
    assert.equal(inspectModelFolder(folder).spec?.family, 'sd1');
  });
});
