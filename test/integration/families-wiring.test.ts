/**
 * Proves the family-specific UNet inputs are wired as diffusers wires them: the tiny models are
 * built so each input changes the output, and a one-step generation through gRPC is compared with
 * an independent computation from the ONNX sessions — which, fed one input wrong, no longer matches.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';

import { unaryCall } from '../../src/client/client.js';
import { batchNoise } from '../../src/diffusion/batch-noise.js';
import { guidanceScaleEmbedding } from '../../src/diffusion/conditioning.js';
import { toRgb8 } from '../../src/diffusion/png.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import { ClipTokenizer } from '../../src/diffusion/tokenizer.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const PROMPT = 'a red car in the city';
const WIDTH = 96;
const HEIGHT = 64;
const SEED = 7;

type Feeds = Record<string, ort.Tensor>;
const f32 = (data: Float32Array | number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);

const sessions = new Map<string, Promise<ort.InferenceSession>>();
/** Each model file opened once: the reference computation runs many times. */
function session(dir: string, part: string): Promise<ort.InferenceSession> {
  const file = path.join(dir, part, 'model.onnx');
  if (!sessions.has(file)) sessions.set(file, ort.InferenceSession.create(file));
  return sessions.get(file)!;
}

/** Token ids as the encoder's input_ids type wants them. */
async function ids(dir: string, tokenizerFolder: string, encoder: ort.InferenceSession, texts: string[]): Promise<ort.Tensor> {
  const tokenizer = await ClipTokenizer.fromDirectory(path.join(dir, tokenizerFolder));
  const flat = texts.flatMap((text) => tokenizer.encode(text).ids);
  const meta = encoder.inputMetadata[0]!;
  const dims = [texts.length, flat.length / texts.length];
  return meta.isTensor && meta.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(flat, BigInt), dims) : new ort.Tensor('int32', Int32Array.from(flat), dims);
}

/** [rows, a] and [rows, b] side by side → [rows, a + b]. */
function sideBySide(a: Float32Array, aWidth: number, b: Float32Array, bWidth: number): Float32Array {
  const rows = a.length / aWidth;
  const out = new Float32Array(rows * (aWidth + bWidth));
  for (let r = 0; r < rows; r++) {
    out.set(a.subarray(r * aWidth, (r + 1) * aWidth), r * (aWidth + bWidth));
    out.set(b.subarray(r * bWidth, (r + 1) * bWidth), r * (aWidth + bWidth) + aWidth);
  }
  return out;
}

/** Where a reference computation may be fed wrong on purpose. */
interface Miswiring {
  timeIds?: readonly number[];
  textEmbedsZero?: boolean;
  /** Which hidden_states.N of each SDXL encoder to read (the right one is the penultimate, 1 here). */
  hiddenLayer?: number;
  /** guidance_scale − 1 is what LCM embeds; this replaces it. */
  lcmW?: number;
  /** Encode "" for the negative instead of SDXL's zeros. */
  encodeEmptyNegative?: boolean;
}

/**
 * One step from pure noise at timestep 999 (Turbo's trailing 1-step schedule, LCM's last grid
 * point), where Euler a and LCM both return the denoised estimate: x0 = x − σ·ε. Guidance (CFG)
 * only for SDXL with an empty negative prompt, which diffusers makes zeros.
 */
async function oneStepReference(dir: string, family: 'sdxl' | 'lcm', cfgScale: number, wrong: Miswiring = {}): Promise<Uint8Array> {
  const guided = family === 'sdxl' && cfgScale > 1;
  const h = HEIGHT / 8;
  const w = WIDTH / 8;
  const schedule = createDiscreteSchedule({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 });
  const sigma = schedule.sigmas[999]!;
  const noise = batchNoise([SEED]).randn(4 * h * w);
  const x = noise.map((n) => n * sigma);
  const sample = x.map((v) => v / Math.sqrt(sigma * sigma + 1));

  const feeds: Feeds = {};
  const batch = guided ? 2 : 1;
  if (family === 'sdxl') {
    const layer = `hidden_states.${wrong.hiddenLayer ?? 1}`;
    const texts = guided && wrong.encodeEmptyNegative ? ['', PROMPT] : [PROMPT];
    const te1 = await session(dir, 'text_encoder');
    const te2 = await session(dir, 'text_encoder_2');
    const out1 = await te1.run({ input_ids: await ids(dir, 'tokenizer', te1, texts) });
    const out2 = await te2.run({ input_ids: await ids(dir, 'tokenizer_2', te2, texts) });
    let context = sideBySide(out1[layer]!.data as Float32Array, 32, out2[layer]!.data as Float32Array, 48);
    let pooled = (out2['text_embeds']!.data as Float32Array).slice();
    if (wrong.textEmbedsZero) pooled.fill(0);
    if (guided && !wrong.encodeEmptyNegative) {
      context = Float32Array.from([...new Float32Array(context.length), ...context]);
      pooled = Float32Array.from([...new Float32Array(pooled.length), ...pooled]);
    }
    const timeIds = wrong.timeIds ?? [HEIGHT, WIDTH, 0, 0, HEIGHT, WIDTH];
    Object.assign(feeds, {
      encoder_hidden_states: f32(context, [batch, 77, 80]),
      text_embeds: f32(pooled, [batch, 16]),
      time_ids: f32([...timeIds, ...(guided ? timeIds : [])], [batch, 6]),
    });
  } else {
    const te = await session(dir, 'text_encoder');
    const out = await te.run({ input_ids: await ids(dir, 'tokenizer', te, [PROMPT]) });
    feeds['encoder_hidden_states'] = f32(out['last_hidden_state']!.data as Float32Array, [1, 77, 32]);
    const embedded = guidanceScaleEmbedding((wrong.lcmW ?? cfgScale - 1) + 1, 16);
    feeds['timestep_cond'] = f32(embedded, [1, 16]);
  }
  feeds['sample'] = f32(guided ? [...sample, ...sample] : sample, [batch, 4, h, w]);
  feeds['timestep'] = f32([999], [1]);
  const out = (await (await session(dir, 'unet')).run(feeds))['out_sample']!.data as Float32Array;
  const size = 4 * h * w;
  const eps = guided ? out.subarray(0, size).map((u, i) => u + cfgScale * (out[size + i]! - u)) : out;
  const scaling = family === 'sdxl' ? 0.13025 : 0.18215;
  const latents = x.map((v, i) => (v - sigma * eps[i]!) / scaling);
  const image = (await (await session(dir, 'vae_decoder')).run({ latent_sample: f32(latents, [1, 4, h, w]) }))['sample']!.data as Float32Array;
  return toRgb8(image, 0, WIDTH, HEIGHT);
}

function maxDifference(a: Uint8Array, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** PNG (RGBA) → RGB, the layout toRgb8 returns. */
function rgb(image: Uint8Array): Uint8Array {
  const png = PNG.sync.read(Buffer.from(image));
  return Uint8Array.from({ length: png.width * png.height * 3 }, (_, i) => png.data[Math.floor(i / 3) * 4 + (i % 3)]!);
}

describe('family inputs wired as diffusers wires them', () => {
  let t: TestServer;
  const dir = (name: string) => path.join(t.settings.modelsDir, name);
  before(async () => {
    t = await startTestServer({});
    await installFamilyModels(t.settings.modelsDir, ['tiny-sdxl-turbo', 'tiny-lcm']);
  });
  after(() => t.stop());

  const generate = async (r: Partial<ImageGenerationRequest>) => {
    const c = t.client();
    const reply = await unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ prompt: PROMPT, width: WIDTH, height: HEIGHT, seed: SEED, steps: 1, ...r }), 120_000);
    return rgb(reply.images[0]!);
  };

  it('the tiny UNets make time_ids, text_embeds and timestep_cond matter', async () => {
    const relative = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.reduce((s, v) => s + Math.abs(v), 0);
    const base = { sample: f32(Float32Array.from({ length: 4 * 8 * 12 }, (_, i) => Math.sin(i)), [1, 4, 8, 12]), timestep: f32([500], [1]) };
    const sdxl = await session(dir('tiny-sdxl-turbo'), 'unet');
    const context = f32(Float32Array.from({ length: 77 * 80 }, (_, i) => Math.cos(i) / 2), [1, 77, 80]);
    const pooled = Float32Array.from({ length: 16 }, (_, i) => Math.sin(3 * i));
    const runSdxl = async (timeIds: number[], textEmbeds = pooled) =>
      (await sdxl.run({ ...base, encoder_hidden_states: context, text_embeds: f32(textEmbeds, [1, 16]), time_ids: f32(timeIds, [1, 6]) }))['out_sample']!.data as Float32Array;
    const right = await runSdxl([64, 96, 0, 0, 64, 96]);
    for (const [what, out] of [
      ['zero time_ids', await runSdxl([0, 0, 0, 0, 0, 0])],
      ['height and width swapped', await runSdxl([96, 64, 0, 0, 96, 64])],
      ['a crop', await runSdxl([64, 96, 16, 0, 64, 96])],
      ['zero text_embeds', await runSdxl([64, 96, 0, 0, 64, 96], new Float32Array(16))],
    ] as const) {
      assert.ok(relative(out, right) > 0.05, `${what} changes the UNet output by only ${(100 * relative(out, right)).toFixed(1)}%`);
    }
    const lcm = await session(dir('tiny-lcm'), 'unet');
    const runLcm = async (scale: number) =>
      (await lcm.run({ ...base, encoder_hidden_states: f32(Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i)), [1, 77, 32]), timestep_cond: f32(guidanceScaleEmbedding(scale, 16), [1, 16]) }))['out_sample']!.data as Float32Array;
    const difference = relative(await runLcm(1), await runLcm(8.5));
    assert.ok(difference > 0.05, `timestep_cond changes the LCM UNet output by only ${(100 * difference).toFixed(1)}%`);
  });

  it('SDXL-Turbo, 1 step: the served image is the reference computation, and not one with a miswired input', async () => {
    const served = await generate({ model: 'tiny-sdxl-turbo', cfgScale: 0, sampler: 'Euler a' });
    const reference = await oneStepReference(dir('tiny-sdxl-turbo'), 'sdxl', 0);
    assert.ok(maxDifference(served, reference) <= 1, `served vs reference: off by ${maxDifference(served, reference)}/255`);
    for (const [what, wrong] of [
      ['time_ids with width and height swapped', { timeIds: [WIDTH, HEIGHT, 0, 0, WIDTH, HEIGHT] }],
      ['zero time_ids', { timeIds: [0, 0, 0, 0, 0, 0] }],
      ['zero text_embeds', { textEmbedsZero: true }],
      ['the last hidden states instead of the penultimate', { hiddenLayer: 2 }],
    ] as const) {
      const miswired = await oneStepReference(dir('tiny-sdxl-turbo'), 'sdxl', 0, wrong);
      assert.ok(maxDifference(served, miswired) > 8, `${what} would give nearly the same image (off by ${maxDifference(served, miswired)}/255)`);
    }
  });

  it('SDXL with guidance and an empty negative prompt: the negative half is zeros (force_zeros_for_empty_prompt)', async () => {
    const served = await generate({ model: 'tiny-sdxl-turbo', cfgScale: 3, negativePrompt: '', sampler: 'Euler a' });
    const reference = await oneStepReference(dir('tiny-sdxl-turbo'), 'sdxl', 3);
    assert.ok(maxDifference(served, reference) <= 1, `served vs reference: off by ${maxDifference(served, reference)}/255`);
    const encoded = await oneStepReference(dir('tiny-sdxl-turbo'), 'sdxl', 3, { encodeEmptyNegative: true });
    assert.ok(maxDifference(served, encoded) > 8, 'an encoded empty prompt would give nearly the same image');
  });

  it('LCM, 1 step: timestep_cond is the embedding of guidance_scale − 1, and the UNet runs once (no CFG batch)', async () => {
    const served = await generate({ model: 'tiny-lcm', cfgScale: 8.5, sampler: '' });
    const reference = await oneStepReference(dir('tiny-lcm'), 'lcm', 8.5);
    assert.ok(maxDifference(served, reference) <= 1, `served vs reference: off by ${maxDifference(served, reference)}/255`);
    for (const [what, w] of [
      ['w = guidance_scale (not − 1)', 8.5],
      ['w = 0', 0],
    ] as const) {
      const miswired = await oneStepReference(dir('tiny-lcm'), 'lcm', 8.5, { lcmW: w });
      assert.ok(maxDifference(served, miswired) > 8, `${what} would give nearly the same image (off by ${maxDifference(served, miswired)}/255)`);
    }
  });
});
