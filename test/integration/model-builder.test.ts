import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';

import { buildPipeline, TINY_SD15, TINY_SD2_V, type PipelineConfig } from '../../tools/model-builder/pipeline.js';
import { bpe } from '../../tools/model-builder/tokenizer-files.js';

const MODEL_FILES = ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'vae_encoder/model.onnx'];
const LAYOUT = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer/tokenizer_config.json',
  'tokenizer/special_tokens_map.json',
  'text_encoder/config.json',
  'unet/config.json',
  'vae_decoder/config.json',
  'vae_encoder/config.json',
  ...MODEL_FILES,
];

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** Deterministic, varied test inputs (not the model's RNG). */
function wave(length: number, phase = 0): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i * 0.37 + phase));
}

function assertFinite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++) assert.ok(Number.isFinite(values[i]), `${what}[${i}] = ${values[i]}`);
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function floats(tensor: ort.Tensor | undefined): Float32Array {
  assert.ok(tensor, 'missing output');
  assert.equal(tensor.type, 'float32');
  return tensor.data as Float32Array;
}

function metadata(session: ort.InferenceSession): { name: string; type: string; shape: (number | string)[] }[] {
  return session.inputMetadata.map((m) => {
    assert.ok(m.isTensor, `${m.name} is a tensor`);
    return { name: m.name, type: m.type, shape: [...m.shape] };
  });
}

/** Ids as the pipeline would feed them: start, a few tokens, end, then padding to 77. */
function promptIds(tokens: number[], vocab: Record<string, number>, padToken: string): number[] {
  const ids = [vocab['<|startoftext|>']!, ...tokens, vocab['<|endoftext|>']!];
  while (ids.length < 77) ids.push(vocab[padToken]!);
  return ids;
}

function idTensor(ids: number[][], dtype: 'int32' | 'int64'): ort.Tensor {
  const flat = ids.flat();
  const data = dtype === 'int64' ? BigInt64Array.from(flat.map(BigInt)) : Int32Array.from(flat);
  return new ort.Tensor(dtype, data, [ids.length, ids[0]!.length]);
}

describe('model builder: tiny Stable Diffusion pipelines', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-model-builder-'));
  const sessions: ort.InferenceSession[] = [];
  const open = async (file: string): Promise<ort.InferenceSession> => {
    const session = await ort.InferenceSession.create(file);
    sessions.push(session);
    return session;
  };
  const pipelines: { label: string; config: PipelineConfig; dir: string }[] = [
    { label: 'SD 1.x (TINY_SD15)', config: TINY_SD15, dir: path.join(root, 'tiny-sd15') },
    { label: 'SD 2.x v-prediction (TINY_SD2_V)', config: TINY_SD2_V, dir: path.join(root, 'tiny-sd2-v') },
  ];

  before(async () => {
    for (const p of pipelines) await buildPipeline(p.dir, p.config, { seed: 1 });
  });
  after(async () => {
    for (const session of sessions) await session.release();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const { label, config, dir } of pipelines) {
    describe(label, () => {
      it('writes every file of the diffusers ONNX layout, JSON with the expected keys', () => {
        for (const file of LAYOUT) assert.ok(fs.statSync(path.join(dir, file)).size > 0, `${file} exists and is not empty`);

        const index = readJson(path.join(dir, 'model_index.json'));
        assert.equal(index._class_name, 'OnnxStableDiffusionPipeline');
        for (const component of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) assert.deepEqual(index[component], ['diffusers', 'OnnxRuntimeModel']);
        assert.deepEqual(index.tokenizer, ['transformers', 'CLIPTokenizer']);
        assert.deepEqual(index.scheduler, ['diffusers', config.scheduler]);

        const scheduler = readJson(path.join(dir, 'scheduler/scheduler_config.json'));
        assert.deepEqual(
          {
            num_train_timesteps: scheduler.num_train_timesteps,
            beta_start: scheduler.beta_start,
            beta_end: scheduler.beta_end,
            beta_schedule: scheduler.beta_schedule,
            prediction_type: scheduler.prediction_type,
            steps_offset: scheduler.steps_offset,
            timestep_spacing: scheduler.timestep_spacing,
            set_alpha_to_one: scheduler.set_alpha_to_one,
            clip_sample: scheduler.clip_sample,
          },
          {
            num_train_timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            beta_schedule: 'scaled_linear',
            prediction_type: config === TINY_SD2_V ? 'v_prediction' : 'epsilon',
            steps_offset: 1,
            timestep_spacing: 'leading',
            set_alpha_to_one: false,
            clip_sample: false,
          },
        );

        const unetConfig = readJson(path.join(dir, 'unet/config.json'));
        assert.equal(unetConfig.cross_attention_dim, config.textEncoder.hiddenSize);
        assert.equal(unetConfig.sample_size, 8);
        assert.equal(readJson(path.join(dir, 'vae_decoder/config.json')).scaling_factor, 0.18215);
      });

      it('writes a CLIP-style byte-level BPE tokenizer whose size matches the embedding table', () => {
        const tokenizerConfig = readJson(path.join(dir, 'tokenizer/tokenizer_config.json'));
        const expectedPad = config === TINY_SD2_V ? '!' : '<|endoftext|>';
        assert.equal(tokenizerConfig.model_max_length, 77);
        assert.equal(tokenizerConfig.pad_token, expectedPad);
        assert.equal(tokenizerConfig.tokenizer_class, 'CLIPTokenizer');
        assert.deepEqual(readJson(path.join(dir, 'tokenizer/special_tokens_map.json')), {
          bos_token: '<|startoftext|>',
          eos_token: '<|endoftext|>',
          pad_token: expectedPad,
          unk_token: '<|endoftext|>',
        });

        const vocab = readJson(path.join(dir, 'tokenizer/vocab.json')) as Record<string, number>;
        const size = Object.keys(vocab).length;
        assert.deepEqual(new Set(Object.values(vocab)).size, size, 'ids are unique');
        assert.equal(vocab['!'], 0, '"!" is id 0 as in CLIP');
        assert.equal(vocab['!</w>'], 256, 'the </w> copies follow the 256 byte symbols');
        assert.equal(vocab['<|startoftext|>'], size - 2);
        assert.equal(vocab['<|endoftext|>'], size - 1);
        assert.equal(readJson(path.join(dir, 'text_encoder/config.json')).vocab_size, size);

        const lines = fs.readFileSync(path.join(dir, 'tokenizer/merges.txt'), 'utf8').trimEnd().split('\n');
        assert.equal(lines[0], '#version: 0.2');
        const merges = lines.slice(1);
        assert.equal(size, 512 + merges.length + 2, 'one vocab entry per merge');
        for (const merge of merges) assert.ok(vocab[merge.replace(' ', '')] !== undefined, `merge result ${merge} is in the vocab`);
        for (const word of ['a', 'cat', 'photo', 'of', 'the', 'dog', 'astronaut', 'landscape']) {
          const pieces = bpe(word, merges);
          assert.deepEqual(pieces, [`${word}</w>`], `"${word}" is one token`);
          assert.ok(vocab[pieces[0]!] !== undefined);
        }
      });

      it('text encoder: export I/O, [batch, 77, dim] output, causal, pooled at EOS', async () => {
        const session = await open(path.join(dir, 'text_encoder/model.onnx'));
        const dim = config.textEncoder.hiddenSize;
        assert.deepEqual(metadata(session), [{ name: 'input_ids', type: 'int32', shape: ['batch_size', 'sequence_length'] }]);
        assert.deepEqual(session.outputNames, ['last_hidden_state', 'pooler_output']);

        const vocab = readJson(path.join(dir, 'tokenizer/vocab.json')) as Record<string, number>;
        const pad = config === TINY_SD2_V ? '!' : '<|endoftext|>';
        const photo = promptIds([vocab['a</w>']!, vocab['photo</w>']!, vocab['of</w>']!, vocab['cat</w>']!], vocab, pad);
        const other = promptIds([vocab['a</w>']!, vocab['photo</w>']!, vocab['of</w>']!, vocab['dog</w>']!], vocab, pad);
        const result = await session.run({ input_ids: idTensor([photo, other], 'int32') });
        assert.deepEqual(result.last_hidden_state?.dims, [2, 77, dim]);
        assert.deepEqual(result.pooler_output?.dims, [2, dim]);
        const hidden = floats(result.last_hidden_state);
        const pooled = floats(result.pooler_output);
        assertFinite(hidden, 'last_hidden_state');
        assertFinite(pooled, 'pooler_output');

        const row = (batch: number, position: number): Float32Array => hidden.subarray((batch * 77 + position) * dim, (batch * 77 + position + 1) * dim);
        // Position 4 holds "cat" vs "dog": everything before it is identical (causal), from it on it differs.
        for (let position = 0; position < 4; position++) assert.ok(maxAbsDifference(row(0, position), row(1, position)) < 1e-5, `position ${position} only sees earlier tokens`);
        assert.ok(maxAbsDifference(row(0, 4), row(1, 4)) > 1e-3, 'the output depends on the ids');
        assert.ok(maxAbsDifference(row(0, 76), row(1, 76)) > 1e-3, 'later positions see the changed id');
        // The EOS token sits at index 5 and has the largest id, so CLIP pools there.
        for (const batch of [0, 1]) assert.ok(maxAbsDifference(pooled.subarray(batch * dim, (batch + 1) * dim), row(batch, 5)) < 1e-6, 'pooled = hidden state at EOS');
      });

      it('unet: export I/O, output shaped like the sample, depends on timestep and text', async () => {
        const session = await open(path.join(dir, 'unet/model.onnx'));
        const dim = config.textEncoder.hiddenSize;
        assert.deepEqual(metadata(session), [
          { name: 'sample', type: 'float32', shape: ['batch_size', 4, 'height', 'width'] },
          { name: 'timestep', type: 'float32', shape: ['steps'] },
          { name: 'encoder_hidden_states', type: 'float32', shape: ['batch_size', 'sequence_length', dim] },
        ]);
        assert.deepEqual(session.outputNames, ['out_sample']);

        const sample = new ort.Tensor('float32', wave(2 * 4 * 8 * 8), [2, 4, 8, 8]);
        const text = new ort.Tensor('float32', wave(2 * 77 * dim, 1), [2, 77, dim]);
        const run = async (feeds: Record<string, ort.Tensor>): Promise<Float32Array> => {
          const out = (await session.run(feeds)).out_sample;
          assert.deepEqual(out?.dims, feeds.sample!.dims);
          const values = floats(out);
          assertFinite(values, 'out_sample');
          return values;
        };
        const base = await run({ sample, timestep: new ort.Tensor('float32', Float32Array.of(981), [1]), encoder_hidden_states: text });
        const laterStep = await run({ sample, timestep: new ort.Tensor('float32', Float32Array.of(1), [1]), encoder_hidden_states: text });
        const otherText = await run({ sample, timestep: new ort.Tensor('float32', Float32Array.of(981), [1]), encoder_hidden_states: new ort.Tensor('float32', wave(2 * 77 * dim, 2), [2, 77, dim]) });
        assert.ok(maxAbsDifference(base, laterStep) > 1e-3, 'the output depends on the timestep');
        assert.ok(maxAbsDifference(base, otherText) > 1e-3, 'the output depends on encoder_hidden_states');

        // Symbolic batch/height/width: one non-square latent, and one timestep per batch entry.
        await run({
          sample: new ort.Tensor('float32', wave(4 * 16 * 8), [1, 4, 16, 8]),
          timestep: new ort.Tensor('float32', Float32Array.of(500), [1]),
          encoder_hidden_states: new ort.Tensor('float32', wave(77 * dim), [1, 77, dim]),
        });
        const perEntry = await run({ sample, timestep: new ort.Tensor('float32', Float32Array.of(981, 981), [2]), encoder_hidden_states: text });
        assert.ok(maxAbsDifference(base, perEntry) < 1e-5, 'timestep [T] with T = batch matches a broadcast [1]');
      });

      it('vae decoder and encoder: export I/O, 8× up and down, finite', async () => {
        const decoder = await open(path.join(dir, 'vae_decoder/model.onnx'));
        assert.deepEqual(metadata(decoder), [{ name: 'latent_sample', type: 'float32', shape: ['batch_size', 4, 'latent_height', 'latent_width'] }]);
        assert.deepEqual(decoder.outputNames, ['sample']);
        const decoded = (await decoder.run({ latent_sample: new ort.Tensor('float32', wave(2 * 4 * 8 * 8), [2, 4, 8, 8]) })).sample;
        assert.deepEqual(decoded?.dims, [2, 3, 64, 64]);
        assertFinite(floats(decoded), 'decoded sample');

        const encoder = await open(path.join(dir, 'vae_encoder/model.onnx'));
        assert.deepEqual(metadata(encoder), [{ name: 'sample', type: 'float32', shape: ['batch_size', 3, 'height', 'width'] }]);
        assert.deepEqual(encoder.outputNames, ['latent_sample']);
        const encoded = (await encoder.run({ sample: decoded! })).latent_sample;
        assert.deepEqual(encoded?.dims, [2, 4, 8, 8]);
        assertFinite(floats(encoded), 'latent_sample');
      });
    });
  }

  it('writes byte-identical models for the same seed and different ones for another seed', async () => {
    const again = path.join(root, 'again');
    const reseeded = path.join(root, 'reseeded');
    await buildPipeline(again, TINY_SD15, { seed: 1 });
    await buildPipeline(reseeded, TINY_SD15, { seed: 2 });
    const original = pipelines[0]!.dir;
    for (const file of [...MODEL_FILES, 'tokenizer/vocab.json', 'tokenizer/merges.txt']) {
      assert.ok(fs.readFileSync(path.join(original, file)).equals(fs.readFileSync(path.join(again, file))), `${file} is reproducible`);
    }
    for (const file of MODEL_FILES) {
      assert.ok(!fs.readFileSync(path.join(original, file)).equals(fs.readFileSync(path.join(reseeded, file))), `${file} changes with the seed`);
    }
  });

  it('builds and runs older-export dtypes: int64 input_ids and timestep, float16 weights in model.onnx_data', async () => {
    const config: PipelineConfig = {
      ...TINY_SD15,
      name: 'tiny-sd15-int64-fp16',
      textEncoder: { ...TINY_SD15.textEncoder, inputIdsDType: 'int64' },
      unet: { ...TINY_SD15.unet, timestep: { dtype: 'int64', rank: 1 } },
      weights: { dtype: 'float16', externalData: true },
      includeVaeEncoder: false,
    };
    const dir = path.join(root, 'int64-fp16');
    await buildPipeline(dir, config, { seed: 1 });
    assert.equal(readJson(path.join(dir, 'model_index.json')).vae_encoder, undefined);
    assert.ok(!fs.existsSync(path.join(dir, 'vae_encoder')));
    const unetBytes = (folder: string): number => ['model.onnx', 'model.onnx_data'].reduce((sum, f) => sum + (fs.existsSync(path.join(folder, f)) ? fs.statSync(path.join(folder, f)).size : 0), 0);
    assert.ok(fs.statSync(path.join(dir, 'unet/model.onnx_data')).size > 0, 'weights went to external data');
    assert.ok(unetBytes(path.join(dir, 'unet')) < 0.6 * unetBytes(path.join(pipelines[0]!.dir, 'unet')), 'float16 roughly halves the weights');

    const textEncoder = await open(path.join(dir, 'text_encoder/model.onnx'));
    assert.equal(metadata(textEncoder)[0]!.type, 'int64');
    const vocab = readJson(path.join(dir, 'tokenizer/vocab.json')) as Record<string, number>;
    const encoded = await textEncoder.run({ input_ids: idTensor([promptIds([vocab['cat</w>']!], vocab, '<|endoftext|>')], 'int64') });
    const hidden = encoded.last_hidden_state!;
    assertFinite(floats(hidden), 'last_hidden_state');

    const unet = await open(path.join(dir, 'unet/model.onnx'));
    assert.deepEqual(metadata(unet)[1], { name: 'timestep', type: 'int64', shape: ['steps'] });
    const out = await unet.run({
      sample: new ort.Tensor('float32', wave(4 * 8 * 8), [1, 4, 8, 8]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(981n), [1]),
      encoder_hidden_states: hidden,
    });
    assert.deepEqual(out.out_sample?.dims, [1, 4, 8, 8]);
    assertFinite(floats(out.out_sample), 'out_sample');
  });

  it('builds and runs a rank-0 float timestep, as some current exports declare it', async () => {
    const config: PipelineConfig = { ...TINY_SD2_V, name: 'tiny-sd2-v-scalar', unet: { ...TINY_SD2_V.unet, timestep: { dtype: 'float32', rank: 0 } } };
    const dir = path.join(root, 'scalar-timestep');
    await buildPipeline(dir, config, { seed: 1 });
    const unet = await open(path.join(dir, 'unet/model.onnx'));
    assert.deepEqual(metadata(unet)[1], { name: 'timestep', type: 'float32', shape: [] });
    const dim = config.textEncoder.hiddenSize;
    const out = await unet.run({
      sample: new ort.Tensor('float32', wave(2 * 4 * 8 * 8), [2, 4, 8, 8]),
      timestep: new ort.Tensor('float32', Float32Array.of(981), []),
      encoder_hidden_states: new ort.Tensor('float32', wave(2 * 77 * dim, 1), [2, 77, dim]),
    });
    assert.deepEqual(out.out_sample?.dims, [2, 4, 8, 8]);
    assertFinite(floats(out.out_sample), 'out_sample');
  });
});
