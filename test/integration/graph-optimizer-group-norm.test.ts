import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import onnxProto from 'onnx-proto';

import { optimizeGraph } from '../../src/diffusion/graph-optimizer/index.js';
import { fp16Variant } from '../../tools/model-builder/family-configs.js';
import { buildPipeline, type PipelineConfig, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { expandContribOps } from '../helpers/contrib-reference.js';
import { countOps, randomFeeds } from '../helpers/onnx-parity.js';
import { referenceGroupNorm, referenceSkipGroupNorm } from '../helpers/reference-group-norm.js';
import { assertSameOutputs, type ExportedBlock, exportTorchBlocks, feedSizes, TOLERANCE } from '../helpers/torch-blocks.js';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
const T = onnx.TensorProto.DataType;

/** The optimized graph with each (Skip)GroupNorm spelled out in standard ONNX, so the CPU can run it. */
function expanded(bytes: Uint8Array): Uint8Array {
  return expandContribOps(bytes, { GroupNorm: referenceGroupNorm, SkipGroupNorm: referenceSkipGroupNorm });
}

function groupNormNodes(bytes: Uint8Array) {
  return (onnx.ModelProto.decode(bytes).graph!.node ?? []).filter((n) => n.opType === 'GroupNorm' || n.opType === 'SkipGroupNorm');
}

/** The fused counts a block or part must get for CUDA. */
function expectedFused(groupNorms: number, skipGroupNorms: number, attentions: number): Record<string, number> {
  return {
    ...(attentions > 0 ? { MultiHeadAttention: attentions } : {}),
    ...(skipGroupNorms > 0 ? { SkipGroupNorm: skipGroupNorms } : {}),
    ...(groupNorms > skipGroupNorms ? { GroupNorm: groupNorms - skipGroupNorms } : {}),
  };
}

/** What the CUDA kernel needs of each fused node: NHWC, a required activation, gamma and beta 1-D float32 [C]. */
function assertKernelReady(bytes: Uint8Array, label: string): void {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const producer = new Map((graph.node ?? []).flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name, t]));
  for (const node of groupNormNodes(bytes)) {
    assert.equal(node.domain, 'com.microsoft', label);
    const attribute = (name: string) => node.attribute!.find((a) => a.name === name);
    assert.equal(Number(attribute('channels_last')!.i), 1, label);
    assert.ok([0, 1].includes(Number(attribute('activation')?.i)), label);
    assert.deepEqual(producer.get(node.input![0]!)!.attribute![0]!.ints!.map(Number), [0, 2, 3, 1], `${label}: X is transposed to NHWC`);
    for (const weight of node.input!.slice(1, 3)) {
      // Stored float32 [C], or stored otherwise under a Cast to float32.
      const cast = producer.get(weight!);
      const tensor = initializers.get(cast ? cast.input![0]! : weight!)!;
      assert.equal(tensor.dims!.length, 1, `${label}: ${weight} is 1-D`);
      if (cast) assert.equal(Number(cast.attribute!.find((a) => a.name === 'to')!.i), T.FLOAT, label);
      else assert.equal(tensor.dataType, T.FLOAT, `${label}: ${weight} is float32`);
    }
  }
}

describe('GroupNorm fusion on torch.onnx.export output (torch 1.13, opset 17)', () => {
  let dir: string;
  let blocks: ExportedBlock[];
  const block = (name: string) => blocks.find((b) => b.name === name)!;
  const read = (name: string, dtype: keyof ExportedBlock['files'] = 'float32') => new Uint8Array(fs.readFileSync(block(name).files[dtype]));

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-norm-'));
    blocks = exportTorchBlocks(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('exports blocks at the sizes the fusion is proven on: 32, 64 and 320 channels, and one it must refuse', () => {
    // vae-mid.dynamic: the VAE block exported with dynamic batch, height and width (for its attention), its GroupNorm too.
    assert.deepEqual(blocks.filter((b) => b.groupNorms > 0).map((b) => b.name).sort(), ['resnet', 'resnet-320', 'resnet-temb', 'vae-mid', 'vae-mid.dynamic']);
    assert.deepEqual(blocks.filter((b) => b.skipGroupNorms > 0).map((b) => b.name), ['resnet-temb']);
    assert.ok(block('resnet-odd-groups'));
  });

  for (const dtype of ['float32', 'float16', 'inferred'] as const) {
    it(`fuses every ${dtype} GroupNorm for CUDA, SiLU folded in where it follows, computing the same`, async () => {
      for (const b of blocks.filter((x) => x.groupNorms > 0)) {
        const plain = read(b.name, dtype);
        assert.equal(countOps(plain, 'InstanceNormalization'), b.groupNorms, `${b.name}: the export spells each GroupNorm with InstanceNormalization`);
        const { bytes, fused } = optimizeGraph(plain, 'cuda');
        assert.deepEqual(fused, expectedFused(b.groupNorms, b.skipGroupNorms, b.attentions), b.name);
        assert.equal(countOps(bytes, 'InstanceNormalization'), 0, b.name);
        // The resnet's norms are each followed by SiLU; the VAE's feeds attention directly.
        const activations = groupNormNodes(bytes).map((n) => Number(n.attribute!.find((a) => a.name === 'activation')!.i));
        assert.deepEqual(activations, new Array<number>(b.groupNorms).fill(b.name.startsWith('vae-mid') ? 0 : 1), b.name);
        assert.equal(countOps(bytes, 'Sigmoid'), countOps(plain, 'Sigmoid') - activations.filter((a) => a === 1).length, `${b.name}: each folded SiLU's Sigmoid gone`);
        // nn.GroupNorm's default epsilon, carried over from the InstanceNormalization.
        for (const n of groupNormNodes(bytes)) assert.equal(n.attribute!.find((a) => a.name === 'epsilon')!.f, Math.fround(1e-5), b.name);
        assertKernelReady(bytes, b.name);
        await assertSameOutputs(plain, expanded(bytes), randomFeeds(plain, feedSizes(b)), TOLERANCE[dtype === 'float16' ? 'float16' : 'float32']);
      }
    });
  }

  it('takes the time embedding Add into SkipGroupNorm as an (N, C) skip, leaving the residual Add', () => {
    const { bytes } = optimizeGraph(read('resnet-temb'), 'cuda');
    const graph = onnx.ModelProto.decode(bytes).graph!;
    const [skipNorm] = (graph.node ?? []).filter((n) => n.opType === 'SkipGroupNorm');
    assert.equal(skipNorm!.input!.length, 4, 'X, gamma, beta, skip; no bias');
    assert.equal(skipNorm!.output!.length, 1, 'the sum is read by nothing else, so no S');
    assert.equal((graph.node ?? []).find((n) => n.output?.includes(skipNorm!.input![3]!))!.opType, 'Expand', 'the [T, C] embedding expanded to the batch');
    assert.equal(countOps(bytes, 'Add'), 1, 'only the residual Add stays');
  });

  it('keeps the graph lean: one Transpose each way per GroupNorm, no plain-GroupNorm constants left', () => {
    const { bytes } = optimizeGraph(read('resnet-320'), 'cuda');
    const graph = onnx.ModelProto.decode(bytes).graph!;
    assert.equal(countOps(bytes, 'Transpose'), 4);
    assert.deepEqual((graph.node ?? []).map((n) => n.opType).filter((op) => op === 'Reshape' || op === 'Shape' || op === 'Mul' || op === 'Add'), ['Add'], 'only the residual Add stays');
    const readValues = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
    assert.deepEqual((graph.initializer ?? []).filter((t) => !readValues.has(t.name!)).map((t) => t.name), []);
    assert.deepEqual((graph.node ?? []).filter((n) => n.opType === 'Constant' && !readValues.has(n.output![0]!)).map((n) => n.output![0]), []);
  });

  it('references gamma and beta kept in external data where they are, without reading them', async () => {
    // SD's norms (320 channels and up) are over the 1 KiB exporters keep inline, so they sit in the data file.
    const model = onnx.ModelProto.decode(read('resnet-320'));
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const tensor of model.graph!.initializer ?? []) {
      if (tensor.dims!.length !== 3) continue;
      const bytes = Buffer.from(tensor.rawData!);
      tensor.externalData = [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(bytes.length) }];
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.rawData = new Uint8Array();
      chunks.push(bytes);
      offset += bytes.length;
    }
    assert.equal(chunks.length, 4, 'two gammas and two betas (random, so not shared)');
    const folder = fs.mkdtempSync(path.join(dir, 'external-'));
    fs.writeFileSync(path.join(folder, 'weights.bin'), Buffer.concat(chunks));
    const plain = onnx.ModelProto.encode(model).finish();
    fs.writeFileSync(path.join(folder, 'plain.onnx'), plain);
    const { bytes, fused } = optimizeGraph(plain, 'cuda');
    assert.deepEqual(fused, { GroupNorm: 2 });
    assertKernelReady(bytes, 'external');
    const weights = (onnx.ModelProto.decode(bytes).graph!.initializer ?? []).filter((t) => t.name!.includes('_group_norm_'));
    assert.deepEqual(weights.map((t) => t.dataLocation), new Array(4).fill(onnx.TensorProto.DataLocation.EXTERNAL));
    assert.deepEqual(weights.map((t) => t.externalData!.find((e) => e.key === 'offset')!.value).sort(), ['0', '1280', '2560', '3840']);
    fs.writeFileSync(path.join(folder, 'optimized.onnx'), expanded(bytes));
    await assertSameOutputs(path.join(folder, 'plain.onnx'), path.join(folder, 'optimized.onnx'), randomFeeds(plain, block('resnet-320').inputs), TOLERANCE.float32);
  });

  it('leaves CPU and WebGPU graphs without GroupNorm: their providers have no kernel for it', () => {
    for (const b of blocks) {
      for (const target of ['cpu', 'webgpu'] as const) {
        const plain = read(b.name);
        const { bytes, fused } = optimizeGraph(plain, target);
        assert.equal(fused.GroupNorm, undefined, `${b.name} on ${target}`);
        assert.equal(countOps(bytes, 'GroupNorm'), 0, `${b.name} on ${target}`);
        assert.equal(countOps(bytes, 'InstanceNormalization'), countOps(plain, 'InstanceNormalization'), `${b.name} on ${target}`);
      }
    }
  });

  it('leaves a GroupNorm of an odd channel count per group (the kernel refuses it) as the same bytes', () => {
    for (const dtype of ['float32', 'float16'] as const) {
      const plain = read('resnet-odd-groups', dtype);
      assert.equal(countOps(plain, 'InstanceNormalization'), 2);
      const result = optimizeGraph(plain, 'cuda');
      assert.equal(result.bytes, plain);
      assert.deepEqual(result.fused, {});
    }
  });

  /** The resnet export with one constant of its first GroupNorm changed, which must then stay plain. */
  function altered(change: (model: Model) => void): Uint8Array {
    const model = onnx.ModelProto.decode(read('resnet'));
    change(model);
    return onnx.ModelProto.encode(model).finish();
  }
  const constantFeeding = (model: Model, opType: string, slot: number) => {
    const nodes = model.graph!.node!;
    const value = nodes.find((n) => n.opType === opType)!.input![slot]!;
    return nodes.find((n) => n.opType === 'Constant' && n.output![0] === value)!;
  };

  for (const [label, change] of [
    ['an InstanceNormalization scale other than 1', (model: Model) => {
      constantFeeding(model, 'InstanceNormalization', 1).attribute![0]!.t = onnx.TensorProto.create({ dataType: T.FLOAT, dims: [8], floatData: new Array<number>(8).fill(2) });
    }],
    ['an InstanceNormalization bias other than 0', (model: Model) => {
      constantFeeding(model, 'InstanceNormalization', 2).attribute![0]!.t = onnx.TensorProto.create({ dataType: T.FLOAT, dims: [8], floatData: new Array<number>(8).fill(0.5) });
    }],
    // [1, 8, -1] on a batch of 2: each row mixes both samples, so it is not a grouping of channels.
    ['a reshape that groups across the batch', (model: Model) => {
      constantFeeding(model, 'Reshape', 1).attribute![0]!.t = onnx.TensorProto.create({ dataType: T.INT64, dims: [3], int64Data: [1, 8, -1] });
    }],
  ] as const) {
    it(`leaves a GroupNorm-like chain with ${label} plain, fusing only the other`, async () => {
      const plain = altered(change);
      const { bytes, fused } = optimizeGraph(plain, 'cuda');
      assert.deepEqual(fused, { GroupNorm: 1 });
      assert.equal(countOps(bytes, 'InstanceNormalization'), 1);
      await assertSameOutputs(plain, expanded(bytes), randomFeeds(plain, block('resnet').inputs), TOLERANCE.float32);
    });
  }
});

describe("GroupNorm fusion on the project builder's tiny pipelines", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-norm-builder-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: [string, PipelineConfig, number][] = [
    ['tiny-sd15', TINY_SD15, TOLERANCE.float32],
    // float16 weights under a Cast to float32, as the builder's fp16 variants store them; float16 inputs and outputs.
    ['tiny-sd15, float16 storage', fp16Variant(TINY_SD15), TOLERANCE.float16],
    // float16 compute, weights in model.onnx_data: gamma and beta referenced there, not copied.
    ['tiny-sd15, float16 compute, external data', { ...TINY_SD15, name: 'tiny-sd15-fp16-compute', weights: { dtype: 'float16', externalData: true, io: 'float16', compute: 'float16' } }, TOLERANCE.float16],
  ];
  for (const [label, config, tolerance] of cases) {
    it(`${label}: every UNet and VAE GroupNorm fused for CUDA, outputs as before`, async () => {
      const pipeline = path.join(dir, config.name);
      await buildPipeline(pipeline, config, { seed: 5 });
      for (const part of ['unet', 'vae_decoder']) {
        const file = path.join(pipeline, part, 'model.onnx');
        const plain = new Uint8Array(fs.readFileSync(file));
        const norms = countOps(plain, 'InstanceNormalization');
        assert.ok(norms > 0, `${label} ${part} has GroupNorms`);
        const { bytes, fused } = optimizeGraph(plain, 'cuda');
        // Each UNet resnet's second GroupNorm takes the time embedding in; the VAE has none.
        const resnets = part === 'unet' ? countOps(plain, 'Unsqueeze') - 1 : 0;
        assert.deepEqual(fused, expectedFused(norms, resnets, countOps(plain, 'Softmax')), `${label} ${part}`);
        // bench/gpu times a fusion's worth by leaving its passes out: the rest still run.
        const without = optimizeGraph(plain, 'cuda', { without: ['GroupNorm', 'SkipGroupNorm'] });
        assert.deepEqual(without.fused, Object.fromEntries(Object.entries(fused).filter(([op]) => op !== 'GroupNorm' && op !== 'SkipGroupNorm')), `${label} ${part} without GroupNorm`);
        assert.equal(countOps(without.bytes, 'InstanceNormalization'), norms);
        assertKernelReady(bytes, `${label} ${part}`);
        // Beside the original, so weights kept in model.onnx_data are found by the same relative references.
        const optimized = path.join(pipeline, part, 'model.optimized.onnx');
        fs.writeFileSync(optimized, expanded(bytes));
        await assertSameOutputs(file, optimized, randomFeeds(plain), tolerance);
        // A batch of 2 sharing one timestep: the [1, C] embedding is expanded to the batch.
        if (part === 'unet') {
          const context = onnx.ModelProto.decode(plain).graph!.input!.find((i) => i.name === 'encoder_hidden_states')!;
          const width = Number(context.type!.tensorType!.shape!.dim![2]!.dimValue);
          await assertSameOutputs(file, optimized, randomFeeds(plain, { sample: [2, 4, 8, 8], encoder_hidden_states: [2, 77, width], timestep: [1] }), tolerance);
        }
      }
    });
  }
});
