import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';

import { familyLabel } from '../../src/diffusion/model-family.js';
import { LoadedModel } from '../../src/diffusion/loaded-model.js';
import { createModelDenoiser } from '../../src/diffusion/model-denoiser.js';
import { inspectModelFolder } from '../../src/diffusion/model-spec.js';
import { floatTensor, RunClock, toFloat32 } from '../../src/diffusion/onnx-session.js';
import { readOnnxSignature } from '../../src/diffusion/onnx-signature.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import { concatChannels } from '../../src/diffusion/unet-call.js';
import { modelInventory } from '../../src/diffusion/model-inventory.js';
import { verifyModel } from '../../src/models/verify.js';
import { buildPipeline, TINY_SD15, TINY_SD15_INPAINT } from '../../tools/model-builder/pipeline.js';
import { installFamilyModels } from '../helpers/family-models.js';

const SHAPE: [number, number, number, number] = [1, 4, 8, 8];
const PIXELS = 8 * 8;

/** Deterministic values in [-1, 1) from a seed, so every array differs from the others. */
function wave(length: number, seed: number): Float32Array {
  return Float32Array.from({ length }, (_, k) => Math.sin(seed * 12.9898 + k * 78.233) * 0.999);
}

/** Mask (1 channel) then masked-image latents (4) for one item: `maskValue` everywhere. */
function inpaintChannels(maskValue: number, seed = 7, items = 1): Float32Array {
  const one = new Float32Array(5 * PIXELS);
  one.fill(maskValue, 0, PIXELS);
  one.set(wave(4 * PIXELS, seed), PIXELS);
  const out = new Float32Array(items * one.length);
  for (let i = 0; i < items; i++) out.set(one, i * one.length);
  return out;
}

/** Runs the UNet file directly in ONNX Runtime with the given sample: the feeds the old code made for a 4-channel UNet. */
async function runDirect(file: string, sample: Float32Array, sampleShape: number[], t: number, context: Float32Array, contextShape: number[]): Promise<Float32Array> {
  const inputs = readOnnxSignature(file).inputs;
  const type = (name: string) => inputs.get(name)!.type as 'float32' | 'float16';
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({
      sample: floatTensor(type('sample'), sample, sampleShape),
      timestep: floatTensor(type('timestep'), new Float32Array(sampleShape[0]!).fill(t), [sampleShape[0]!]),
      encoder_hidden_states: floatTensor(type('encoder_hidden_states'), context, contextShape),
    });
    return toFloat32(out['out_sample']!);
  } finally {
    await session.release();
  }
}

describe('inpainting UNets (9 input channels)', () => {
  let dir: string;
  const models: LoadedModel[] = [];
  const load = async (name: string): Promise<LoadedModel> => {
    const model = await LoadedModel.load(path.join(dir, name), name, 'cpu');
    models.push(model);
    return model;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inpaint-unet-'));
    await installFamilyModels(dir, ['tiny-sd15-inpaint', 'tiny-sd15-inpaint-fp16']);
    await buildPipeline(path.join(dir, 'tiny-sd15'), TINY_SD15, { seed: 1 });
  });
  after(async () => {
    await Promise.all(models.map((m) => m.release()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a 9-channel UNet is an inpainting model of its base family; a 4-channel one is not', () => {
    const inpaint = inspectModelFolder(path.join(dir, 'tiny-sd15-inpaint'));
    assert.ok(inpaint.spec, inpaint.problems?.join('; '));
    assert.deepEqual([inpaint.spec.family, inpaint.spec.base, inpaint.spec.inpainting], ['sd1', 'sd1', true]);
    assert.equal(inspectModelFolder(path.join(dir, 'tiny-sd15-inpaint-fp16')).spec?.inpainting, true);
    assert.equal(inspectModelFolder(path.join(dir, 'tiny-sd15')).spec?.inpainting, false);
    assert.equal(familyLabel('sd1', true), 'sd1 (inpainting)');
    assert.equal(familyLabel('sd1', false), 'sd1');
  });

  it('ListModels and verify say which model is the inpainting one', async () => {
    const rows = modelInventory(dir, undefined).filter((m) => !m.builtin).map((m) => [m.name, m.family, m.inpainting, m.loadable]);
    assert.deepEqual(rows.sort(), [
      ['tiny-sd15', 'sd1', false, true],
      ['tiny-sd15-inpaint', 'sd1', true, true],
      ['tiny-sd15-inpaint-fp16', 'sd1', true, true],
    ]);
    const verified = await verifyModel(dir, 'tiny-sd15-inpaint');
    assert.deepEqual([verified.ok, verified.family, verified.inpainting], [true, 'sd1', true], verified.problems.join('; '));
  });

  it('other channel counts are still refused, and an inpainting UNet needs a vae_encoder', async () => {
    await buildPipeline(path.join(dir, 'seven'), { ...TINY_SD15_INPAINT, name: 'seven', unet: { ...TINY_SD15_INPAINT.unet, inChannels: 7 } }, { seed: 1 });
    const seven = inspectModelFolder(path.join(dir, 'seven'));
    assert.equal(seven.spec, undefined);
    assert.deepEqual(seven.problems, ['the UNet takes 7 input channels; supported are 4 (text-to-image) and 9 (inpainting: latents, mask, masked-image latents)']);

    await buildPipeline(path.join(dir, 'no-encoder'), { ...TINY_SD15_INPAINT, name: 'no-encoder', includeVaeEncoder: false }, { seed: 1 });
    assert.deepEqual(inspectModelFolder(path.join(dir, 'no-encoder')).problems, ['the UNet is an inpainting UNet (9 input channels) but the folder has no vae_encoder/model.onnx to encode the masked image']);
    fs.rmSync(path.join(dir, 'seven'), { recursive: true });
    fs.rmSync(path.join(dir, 'no-encoder'), { recursive: true });
  });

  for (const name of ['tiny-sd15-inpaint', 'tiny-sd15-inpaint-fp16']) {
    it(`${name}: the extra channels follow the latents on the channel axis, and the mask changes the output`, async () => {
      const model = await load(name);
      const unet = model.unetCall(new RunClock());
      const x = wave(4 * PIXELS, 1);
      const context = wave(77 * 32, 2);
      const contextShape: [number, number, number] = [1, 77, 32];
      const repaint = await unet(x, SHAPE, 500, context, contextShape, {}, inpaintChannels(1));
      const keep = await unet(x, SHAPE, 500, context, contextShape, {}, inpaintChannels(0));
      assert.equal(repaint.length, 4 * PIXELS, 'an inpainting UNet still outputs 4 channels');
      assert.notDeepEqual(repaint, keep, 'the mask channel reaches the UNet');
      const otherImage = await unet(x, SHAPE, 500, context, contextShape, {}, inpaintChannels(1, 8));
      assert.notDeepEqual(repaint, otherImage, 'the masked-image latents reach the UNet');

      // The same 9-channel sample made by hand and fed to ONNX Runtime directly gives the same numbers.
      const byHand = new Float32Array(9 * PIXELS);
      byHand.set(x);
      byHand.set(inpaintChannels(1), 4 * PIXELS);
      const direct = await runDirect(path.join(dir, name, 'unet', 'model.onnx'), byHand, [1, 9, 8, 8], 500, context, [1, 77, 32]);
      assert.deepEqual(repaint, direct);

      await assert.rejects(unet(x, SHAPE, 500, context, contextShape, {}), /inpainting UNet: it takes 5 channels after the latents/);
      await assert.rejects(unet(x, SHAPE, 500, context, contextShape, {}, new Float32Array(4 * PIXELS)), /takes \[1, 5, 8, 8\] extra channels and the pipeline gave 256 values/);
    });
  }

  it('the guided denoiser gives both halves the same extra channels', async () => {
    const model = await load('tiny-sd15-inpaint');
    const unet = model.unetCall(new RunClock());
    const schedule = createDiscreteSchedule({});
    const latentShape: [number, number, number, number] = [2, 4, 8, 8];
    const cond = wave(2 * 77 * 32, 3);
    const uncond = wave(2 * 77 * 32, 4);
    const extra = new Float32Array(2 * 5 * PIXELS);
    extra.set(inpaintChannels(1, 7));
    extra.set(inpaintChannels(0, 9), 5 * PIXELS);
    const x = wave(2 * 4 * PIXELS, 5);
    const sigma = 2;
    const guidanceScale = 7;
    const denoise = createModelDenoiser({ unet, schedule, predictionType: 'epsilon', latentShape, cond, uncond, contextShape: [2, 77, 32], guidanceScale, unetExtraChannels: extra });
    const denoised = await denoise(x, sigma);

    // By hand: [uncond; cond] halves, each item's scaled latents then its own extra channels.
    const cIn = 1 / Math.sqrt(sigma * sigma + 1);
    const scaled = x.map((v) => v * cIn);
    const both = new Float32Array(2 * scaled.length);
    both.set(scaled);
    both.set(scaled, scaled.length);
    const bothExtra = new Float32Array(2 * extra.length);
    bothExtra.set(extra);
    bothExtra.set(extra, extra.length);
    const sample = concatChannels(both, bothExtra, [4, 4, 8, 8]);
    const context = new Float32Array(2 * cond.length);
    context.set(uncond);
    context.set(cond, uncond.length);
    const eps = await runDirect(path.join(dir, 'tiny-sd15-inpaint', 'unet', 'model.onnx'), sample.data, sample.shape, schedule.sigmaToTimestep(sigma), context, [4, 77, 32]);
    const half = x.length;
    const expected = x.map((v, k) => v - sigma * (eps[k]! + guidanceScale * (eps[half + k]! - eps[k]!)));
    for (let k = 0; k < half; k++) assert.ok(Math.abs(denoised[k]! - expected[k]!) < 1e-5, `denoised[${k}]: ${denoised[k]} vs ${expected[k]}`);
  });

  it('a 4-channel UNet gets what it got before, and refuses extra channels', async () => {
    const model = await load('tiny-sd15');
    const unet = model.unetCall(new RunClock());
    const x = wave(4 * PIXELS, 1);
    const context = wave(77 * 32, 2);
    const out = await unet(x, SHAPE, 500, context, [1, 77, 32], {});
    const direct = await runDirect(path.join(dir, 'tiny-sd15', 'unet', 'model.onnx'), x, SHAPE, 500, context, [1, 77, 32]);
    assert.deepEqual(out, direct);

    const denoise = createModelDenoiser({ unet, schedule: createDiscreteSchedule({}), predictionType: 'epsilon', latentShape: SHAPE, cond: context, contextShape: [1, 77, 32], guidanceScale: 1 });
    const sigma = 2;
    const denoised = await denoise(x, sigma);
    const eps = await runDirect(path.join(dir, 'tiny-sd15', 'unet', 'model.onnx'), x.map((v) => v / Math.sqrt(sigma * sigma + 1)), SHAPE, createDiscreteSchedule({}).sigmaToTimestep(sigma), context, [1, 77, 32]);
    for (let k = 0; k < x.length; k++) assert.ok(Math.abs(denoised[k]! - (x[k]! - sigma * eps[k]!)) < 1e-6, `denoised[${k}]`);

    await assert.rejects(unet(x, SHAPE, 500, context, [1, 77, 32], {}, inpaintChannels(1)), /only the latents \(it is no inpainting UNet\)/);
  });
});
