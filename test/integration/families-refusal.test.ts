import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { checkModels } from '../../src/client/check-models.js';
import { unaryCall } from '../../src/client/client.js';
import type { ImageGenerationRequest, ImageGenerationResponse, ListModelsRequest, ListModelsResponse } from '../../src/generated/image_generation.js';
import { grpcError } from '../helpers/calls.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installTinyModels } from '../helpers/tiny-models.js';

type Json = Record<string, unknown>;

/** A copy of a good model folder, broken by `damage`. */
function brokenCopy(modelsDir: string, from: string, name: string, damage: (dir: string) => void): void {
  const dir = path.join(modelsDir, name);
  fs.cpSync(path.join(modelsDir, from), dir, { recursive: true });
  damage(dir);
}

function editJson(file: string, edit: (json: Json) => void): void {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json));
}

/** Each broken folder and what its refusal must say. */
const CASES: [name: string, from: string, damage: (dir: string) => void, reason: RegExp][] = [
  [
    'sdxl-without-encoder-2',
    'tiny-sdxl',
    (dir) => ['text_encoder_2', 'tokenizer_2'].forEach((part) => fs.rmSync(path.join(dir, part), { recursive: true })),
    /missing text_encoder_2\/model\.onnx, tokenizer_2/,
  ],
  [
    'sdxl-unet-alone',
    'tiny-sdxl',
    (dir) => {
      ['text_encoder_2', 'tokenizer_2'].forEach((part) => fs.rmSync(path.join(dir, part), { recursive: true }));
      editJson(path.join(dir, 'model_index.json'), (index) => {
        delete index['text_encoder_2'];
        delete index['tokenizer_2'];
      });
    },
    /the UNet expects text_embeds and time_ids \(SDXL\) but the folder has no text_encoder_2/,
  ],
  [
    'encoder-too-wide',
    'tiny-sd15',
    (dir) => {
      fs.rmSync(path.join(dir, 'text_encoder'), { recursive: true });
      fs.cpSync(path.join(dir, '..', 'tiny-sd2-v', 'text_encoder'), path.join(dir, 'text_encoder'), { recursive: true });
    },
    /the UNet's cross-attention width is 32 but the text encoders give 48 \(text_encoder 48\)/,
  ],
  [
    'encoder-2-without-pooling',
    'tiny-sdxl',
    (dir) => fs.copyFileSync(path.join(dir, 'text_encoder', 'model.onnx'), path.join(dir, 'text_encoder_2', 'model.onnx')),
    /text_encoder_2 has no text_embeds output/,
  ],
  [
    'sdxl-refiner',
    'tiny-sdxl',
    (dir) => {
      fs.rmSync(path.join(dir, 'text_encoder'), { recursive: true });
      editJson(path.join(dir, 'model_index.json'), (index) => (index['text_encoder'] = [null, null]));
    },
    /an SDXL refiner .*it refines images \(img2img\)/,
  ],
  [
    'sdxl-encoder-without-hidden-states',
    'tiny-sdxl',
    (dir) => {
      // An SD 1.x-style encoder of the same width: last_hidden_state and pooler_output only.
      fs.copyFileSync(path.join(dir, '..', 'tiny-sd15', 'text_encoder', 'model.onnx'), path.join(dir, 'text_encoder', 'model.onnx'));
    },
    /text_encoder has no hidden_states\.1 output \(SDXL reads the penultimate layer's hidden states/,
  ],
  [
    'another-architecture',
    'tiny-sd15',
    (dir) => editJson(path.join(dir, 'model_index.json'), (index) => (index['_class_name'] = 'FluxPipeline')),
    /unknown model family: model_index\.json names FluxPipeline/,
  ],
  [
    'unknown-encoder',
    'tiny-sd15',
    (dir) => editJson(path.join(dir, 'text_encoder', 'config.json'), (config) => (config['hidden_act'] = 'relu')),
    /unknown model family: text_encoder\/config\.json \(hidden_act relu, hidden_size 32\)/,
  ],
  [
    'corrupt-vocab',
    'tiny-sd15',
    (dir) => fs.writeFileSync(path.join(dir, 'tokenizer', 'vocab.json'), fs.readFileSync(path.join(dir, 'tokenizer', 'vocab.json')).subarray(0, 100)),
    /tokenizer: vocab\.json is not valid JSON/,
  ],
  [
    'prediction-type-number',
    'tiny-sd15',
    (dir) => editJson(path.join(dir, 'scheduler', 'scheduler_config.json'), (config) => (config['prediction_type'] = 5)),
    /scheduler: unsupported prediction_type 5; supported are epsilon and v_prediction/,
  ],
  [
    'binary-model-index',
    'tiny-sd15',
    (dir) => fs.writeFileSync(path.join(dir, 'model_index.json'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x01])),
    /model_index\.json is not valid JSON/,
  ],
];

describe('model folders that cannot work are refused before any request runs', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({});
    await installTinyModels(t.settings.modelsDir);
    await installFamilyModels(t.settings.modelsDir, ['tiny-sdxl']);
    for (const [name, from, damage] of CASES) brokenCopy(t.settings.modelsDir, from, name, damage);
  });
  after(() => t.stop());

  const list = async () => (await unaryCall<ListModelsRequest, ListModelsResponse>(t.client().service, t.client().service.listModels, {}, 10_000)).models;

  for (const [name, , , reason] of CASES) {
    it(`${name}: ListModels says it is not loadable and why; GenerateImage gets FAILED_PRECONDITION with the same reason`, async () => {
      const model = (await list()).find((m) => m.name === name)!;
      assert.equal(model.loadable, false);
      assert.match(model.problem, reason);
      const c = t.client();
      const error = await grpcError(unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ model: name, steps: 1 }), 60_000));
      assert.equal(error.code, status.FAILED_PRECONDITION);
      assert.match(error.details, new RegExp(`^model "${name}" is `));
      assert.match(error.details, reason);
    });
  }

  it('the intact folders beside them stay loadable, with their families', async () => {
    const good = (await list()).filter((m) => ['tiny-sd15', 'tiny-sd2-v', 'tiny-sdxl', 'smoke'].includes(m.name));
    assert.deepEqual(
      good.map((m) => [m.name, m.family, m.loadable, m.problem]),
      [
        ['tiny-sd15', 'sd1', true, ''],
        ['tiny-sd2-v', 'sd2', true, ''],
        ['tiny-sdxl', 'sdxl', true, ''],
        ['smoke', 'sd1', true, ''],
      ],
    );
  });

  it("dts-util test's models check fails, naming each broken model and its reason", async () => {
    const check = await checkModels(t.client(), 10_000);
    assert.equal(check.ok, false);
    for (const [name, , , reason] of CASES) assert.match(check.detail, new RegExp(`model ${name} is [^;]*${reason.source}`));
  });
});
