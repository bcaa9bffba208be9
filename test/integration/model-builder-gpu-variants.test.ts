/**
 * The builder's GPU-oriented variants, used by bench/gpu: fp16 arithmetic throughout (as
 * `optimum-cli export onnx --fp16` writes) and attention fused into ORT's MultiHeadAttention (as
 * ORT's Stable Diffusion optimizer rewrites it). Each must compute what the plain fp32 graph does.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

import { floatTensor, toFloat32 } from '../../src/diffusion/onnx-session.js';
import { buildPipeline, TINY_SD15, type PipelineConfig } from '../../tools/model-builder/pipeline.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

const wave = (length: number, phase: number) => Float32Array.from({ length }, (_, i) => Math.sin(i * 0.37 + phase));

/** Runs the tiny UNet once on fixed inputs, in whatever float type the model declares. */
async function unetOutput(dir: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path.join(dir, 'unet', 'model.onnx'));
  try {
    const types = new Map(session.inputMetadata.map((m) => [m.name, (m as { type: string }).type as 'float32' | 'float16']));
    const feed = (name: string, data: Float32Array, dims: number[]) => floatTensor(types.get(name)!, data, dims);
    const out = await session.run({
      sample: feed('sample', wave(2 * 4 * 8 * 8, 0), [2, 4, 8, 8]),
      timestep: feed('timestep', Float32Array.of(421), [1]),
      encoder_hidden_states: feed('encoder_hidden_states', wave(2 * 77 * 32, 1), [2, 77, 32]),
    });
    return toFloat32(out.out_sample!);
  } finally {
    await session.release();
  }
}

async function vaeOutput(dir: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path.join(dir, 'vae_decoder', 'model.onnx'));
  try {
    const out = await session.run({ latent_sample: new ort.Tensor('float32', wave(4 * 8 * 8, 2), [1, 4, 8, 8]) });
    return toFloat32(out.sample!);
  } finally {
    await session.release();
  }
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Number.isFinite(actual[i]), `value ${i} is ${actual[i]}`);
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return worst / scale;
}

function graphOf(dir: string, component: string): onnxProto.onnx.IModelProto {
  return onnx.ModelProto.decode(fs.readFileSync(path.join(dir, component, 'model.onnx')));
}

describe('model builder GPU variants', () => {
  let root: string;
  const dirs: Record<string, string> = {};
  const variants: Record<string, PipelineConfig> = {
    // The reference keeps fp16-rounded weights but computes in fp32, so only arithmetic differs.
    fp16Weights: { ...TINY_SD15, weights: { dtype: 'float16', externalData: false } },
    fp16Compute: { ...TINY_SD15, weights: { dtype: 'float16', externalData: false, io: 'float16', compute: 'float16' } },
    plain: TINY_SD15,
    fused: { ...TINY_SD15, fusedAttention: true },
  };

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-gpu-variants-'));
    for (const [name, config] of Object.entries(variants)) {
      dirs[name] = path.join(root, name);
      await buildPipeline(dirs[name], config, { seed: 7 });
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('fp16 compute leaves no float32 tensor but Resize scales and the text encoder id cast', () => {
    for (const component of ['text_encoder', 'unet', 'vae_decoder']) {
      const graph = graphOf(dirs.fp16Compute!, component).graph!;
      for (const info of [...graph.input!, ...graph.output!]) assert.notEqual(info.type!.tensorType!.elemType, FLOAT, `${component} ${info.name}`);
      const resizeScales = new Set(graph.node!.filter((n) => n.opType === 'Resize').map((n) => n.input![2]));
      for (const init of graph.initializer!) if (init.dataType === FLOAT) assert.ok(resizeScales.has(init.name!), `${component} initializer ${init.name} is float32`);
      const floatCasts = graph.node!.filter((n) => n.opType === 'Cast' && Number(n.attribute!.find((a) => a.name === 'to')!.i) === FLOAT);
      assert.equal(floatCasts.length, component === 'text_encoder' ? 1 : 0, `${component}: casts to float32`);
      assert.ok(graph.initializer!.some((i) => i.dataType === FLOAT16), `${component} stores float16 weights`);
    }
  });

  it('fp16 compute gives the fp32 answer to half precision', async () => {
    const error = relativeError(await unetOutput(dirs.fp16Compute!), await unetOutput(dirs.fp16Weights!));
    // Half precision carries ~3 decimal digits; through a UNet's dozens of layers ~1% is expected.
    assert.ok(error < 0.03, `relative error ${error}`);
    assert.ok(error > 0, 'the fp16 graph should not be the fp32 graph');
  });

  it('fused MultiHeadAttention computes what the plain attention ops compute', async () => {
    for (const component of ['unet', 'vae_decoder']) {
      const model = graphOf(dirs.fused!, component);
      const nodes = model.graph!.node!;
      assert.ok(nodes.some((n) => n.opType === 'MultiHeadAttention' && n.domain === 'com.microsoft'), `${component} has fused attention`);
      assert.ok(!nodes.some((n) => n.opType === 'Softmax'), `${component} has no plain attention left`);
      assert.ok(model.opsetImport!.some((o) => o.domain === 'com.microsoft'), `${component} imports the contrib domain`);
    }
    assert.ok(relativeError(await unetOutput(dirs.fused!), await unetOutput(dirs.plain!)) < 1e-5);
    assert.ok(relativeError(await vaeOutput(dirs.fused!), await vaeOutput(dirs.plain!)) < 1e-5);
  });
});
