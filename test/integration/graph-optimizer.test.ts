import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

import { optimizeGraph } from '../../src/diffusion/graph-optimizer/index.js';
import { floatTensor } from '../../src/diffusion/onnx-session.js';
import { TINY_SDXL } from '../../tools/model-builder/family-configs.js';
import { buildPipeline, type PipelineConfig, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { countOps, randomFeeds } from '../helpers/onnx-parity.js';
import { assertSameOutputs, type ExportedBlock, exportTorchBlocks, feedSizes, TOLERANCE } from '../helpers/torch-blocks.js';

const { onnx } = onnxProto;

function contribImport(model: Uint8Array): number | undefined {
  const entry = (onnx.ModelProto.decode(model).opsetImport ?? []).find((o) => o.domain === 'com.microsoft');
  return entry ? Number(entry.version) : undefined;
}

describe('graph optimizer on torch.onnx.export output (torch 1.13, opset 17)', () => {
  let dir: string;
  let blocks: ExportedBlock[];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-optimizer-'));
    blocks = exportTorchBlocks(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('exports every block the optimizer is proven on, each with attention also with dynamic axes', () => {
    const withAttention = ['biased-rows', 'classic-baddbmm', 'classic-matmul', 'clip-causal', 'clip-mask-input', 'clip-transformers', 'clip-transformers-padded', 'four-d', 'split-scale', 'transformer-320', 'vae-mid'];
    const without = ['geglu-320', 'geglu-320-dynamic', 'geglu-320-gate-first', 'geglu-320-gate-read', 'geglu-320-tanh', 'linear-residual-320', 'linear-residual-320-broadcast', 'linear-residual-320-sum-read', 'residual-norm', 'residual-norm-broadcast', 'resnet', 'resnet-320', 'resnet-odd-groups', 'resnet-temb'];
    assert.deepEqual(blocks.map((b) => b.name).sort(), [...withAttention, ...withAttention.map((name) => `${name}.dynamic`), ...without].sort());
    for (const block of blocks.filter((b) => b.dynamic)) {
      const plain = onnx.ModelProto.decode(fs.readFileSync(block.files.float32));
      const computed = (plain.graph!.node ?? []).filter((n) => n.opType === 'Reshape' && !(plain.graph!.initializer ?? []).some((t) => t.name === n.input![1]) && !(plain.graph!.node ?? []).some((c) => c.opType === 'Constant' && c.output![0] === n.input![1]));
      assert.ok(computed.length > 0, `${block.name}: the export computes its Reshape specs at run time`);
      assert.notDeepEqual(feedSizes(block), block.inputs, `${block.name}: fed at sizes other than the example it was traced at`);
    }
  });

  for (const dtype of ['float32', 'float16'] as const) {
    it(`fuses each attention of the ${dtype} exports into one MultiHeadAttention, computing the same`, async () => {
      for (const block of blocks.filter((b) => b.attentions > 0 && b.fuses)) {
        const plain = new Uint8Array(fs.readFileSync(block.files[dtype]));
        assert.equal(countOps(plain, 'Softmax'), block.attentions, `${block.name}: the export has one Softmax per attention`);
        const { bytes, fused } = optimizeGraph(plain, 'cpu');
        assert.deepEqual(fused, { MultiHeadAttention: block.attentions }, block.name);
        assert.equal(countOps(bytes, 'MultiHeadAttention'), block.attentions, block.name);
        assert.equal(countOps(bytes, 'Softmax'), 0, `${block.name}: no plain attention left`);
        assert.equal(contribImport(bytes), 1, block.name);
        await assertSameOutputs(plain, bytes, randomFeeds(plain, feedSizes(block)), TOLERANCE[dtype]);
      }
    });

    it(`fuses the ${dtype} CLIP causal attention with its mask as attention_bias, and leaves unmasked ones without`, async () => {
      for (const block of blocks.filter((b) => b.fuses && b.attentions > 0)) {
        const plain = new Uint8Array(fs.readFileSync(block.files[dtype]));
        const nodes = onnx.ModelProto.decode(optimizeGraph(plain, 'cpu').bytes).graph!.node ?? [];
        const biased = nodes.filter((n) => n.opType === 'MultiHeadAttention' && (n.input ?? [])[5]);
        assert.equal(biased.length, block.name.startsWith('clip-') ? block.attentions : 0, `${block.name}: attention_bias only where the export adds a mask`);
        for (const n of biased) assert.deepEqual(n.input!.slice(3, 5), ['', ''], block.name);
      }
      // The mask given as an input is fed as it is: [B, 1, S, S] is already an attention_bias.
      for (const masked of blocks.filter((b) => b.name.startsWith('clip-mask-input'))) {
        const plain = new Uint8Array(fs.readFileSync(masked.files[dtype]));
        const [node] = (onnx.ModelProto.decode(optimizeGraph(plain, 'cpu').bytes).graph!.node ?? []).filter((n) => n.opType === 'MultiHeadAttention');
        assert.equal(node!.input![5], 'mask', masked.name);
        // A real causal mask (finfo.min above the diagonal), not the random one the other test feeds.
        const sizes = feedSizes(masked);
        const [b, , s] = sizes.mask as [number, number, number, number];
        const mask = new Float32Array(b * s * s).map((_, i) => ((i % s) > Math.floor(i / s) % s ? -3.4028234663852886e38 : 0));
        const feeds = randomFeeds(plain, sizes);
        // float16 keeps the random mask: finfo(float32).min has no float16 value.
        if (dtype === 'float32') feeds.mask = new ort.Tensor('float32', mask, sizes.mask);
        await assertSameOutputs(plain, optimizeGraph(plain, 'cpu').bytes, feeds, TOLERANCE[dtype]);
      }
    });

    it(`fuses the ${dtype} transformers CLIPAttention layout: q's scale folded in, its masks (added in a [B, h, S, S] view) as one attention_bias`, async () => {
      for (const block of blocks.filter((b) => b.name.startsWith('clip-transformers'))) {
        const { name } = block;
        const plain = new Uint8Array(fs.readFileSync(block.files[dtype]));
        const { bytes } = optimizeGraph(plain, 'cpu');
        const nodes = onnx.ModelProto.decode(bytes).graph!.node ?? [];
        const producer = (value: string) => nodes.find((n) => n.output?.includes(value));
        const [node] = nodes.filter((n) => n.opType === 'MultiHeadAttention');
        // The scale Mul on q's projection went into the node: q is the projection itself, the scale 1/√16 its attribute.
        assert.equal(producer(node!.input![0]!)?.opType, 'Add', `${name}: q is the biased projection`);
        assert.ok(!nodes.some((n) => n.opType === 'Mul' && n.input?.includes(node!.input![0]!)), `${name}: q's scaling Mul is gone`);
        // The dynamic export's other Muls (B·h in the specs) went with the Reshapes they sized.
        if (!block.dynamic) assert.equal(countOps(bytes, 'Mul'), countOps(plain, 'Mul') - 1, `${name}: only q's scaling Mul is gone`);
        assert.equal(node!.attribute!.find((a) => a.name === 'scale')!.f, 0.25, name);
        // The causal mask alone is the bias; with a padding mask too, their sum.
        const bias = producer(node!.input![5]!);
        if (!name.includes('padded')) assert.equal(bias?.opType, 'Expand', name);
        else {
          assert.equal(bias?.opType, 'Add', name);
          assert.equal(producer(bias!.input![0]!)?.opType, 'Expand', `${name}: the causal mask first`);
          assert.equal(bias!.input![1], 'attention_mask', `${name}: then the padding mask`);
        }
        // q, k and v split and folded, the scores unfolded and folded back per mask, the output unfolded and merged.
        const attentionReshapes = 8 + 2 * (name.includes('padded') ? 2 : 1);
        assert.equal(countOps(plain, 'Reshape') - countOps(bytes, 'Reshape'), attentionReshapes, `${name}: every head split, view and merge went into the node`);
        // The dynamic export keeps the Reshapes that build its causal mask's shape.
        if (!block.dynamic) assert.equal(countOps(bytes, 'Reshape'), 0, name);
      }
      // A real padding mask (the second sequence's last 3 keys cut off, the dtype's lowest value) on top of the causal one; 3 sequences in the dynamic export.
      for (const padded of blocks.filter((b) => b.name.startsWith('clip-transformers-padded'))) {
        const plain = new Uint8Array(fs.readFileSync(padded.files[dtype]));
        const sizes = feedSizes(padded, 3);
        const [b, , s] = sizes.attention_mask as [number, number, number, number];
        const lowest = dtype === 'float32' ? -3.4028234663852886e38 : -65504;
        const mask = new Float32Array(b * s * s).map((_, i) => (i >= s * s && i < 2 * s * s && i % s >= s - 3 ? lowest : 0));
        const feeds = { ...randomFeeds(plain, sizes), attention_mask: floatTensor(dtype, mask, sizes.attention_mask!) };
        await assertSameOutputs(plain, optimizeGraph(plain, 'cpu').bytes, feeds, TOLERANCE[dtype]);
      }
    });

    it(`leaves the ${dtype} attention whose addend is not a [B or 1, h or 1, Lq, Lk] mask as the same bytes`, () => {
      for (const block of blocks.filter((b) => !b.fuses)) {
        const plain = new Uint8Array(fs.readFileSync(block.files[dtype]));
        assert.equal(countOps(plain, 'Softmax'), block.attentions, block.name);
        const result = optimizeGraph(plain, 'cpu');
        assert.equal(result.bytes, plain, block.name);
        assert.deepEqual(result.fused, {}, block.name);
      }
    });

    it(`returns the ${dtype} resnet block (no attention) as the same bytes where no GroupNorm kernel exists`, () => {
      const plain = new Uint8Array(fs.readFileSync(blocks.find((b) => b.name === 'resnet')!.files[dtype]));
      for (const target of ['cpu', 'webgpu'] as const) {
        const result = optimizeGraph(plain, target);
        assert.equal(result.bytes, plain, target);
        assert.deepEqual(result.fused, {}, target);
      }
    });
  }

  it('drops the value_info of values the fusion removed, and still fuses with value_info present', async () => {
    for (const block of blocks.filter((b) => b.attentions > 0 && b.fuses)) {
      const plain = new Uint8Array(fs.readFileSync(block.files.inferred));
      assert.ok((onnx.ModelProto.decode(plain).graph!.valueInfo ?? []).length > 0, `${block.name}: shape inference recorded value_info`);
      const { bytes, fused } = optimizeGraph(plain, 'cpu');
      assert.deepEqual(fused, { MultiHeadAttention: block.attentions }, block.name);
      const graph = onnx.ModelProto.decode(bytes).graph!;
      const produced = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
      assert.deepEqual((graph.valueInfo ?? []).map((v) => v.name).filter((name) => !produced.has(name!)), [], block.name);
      await assertSameOutputs(plain, bytes, randomFeeds(plain, feedSizes(block)), TOLERANCE.float32);
    }
  });

  it('fuses attention for every target alike', () => {
    const plain = new Uint8Array(fs.readFileSync(blocks.find((b) => b.name === 'four-d')!.files.float32));
    // The other passes differ by target (graph-optimizer-bias-ops.test.ts).
    for (const target of ['cuda', 'webgpu', 'cpu'] as const) assert.equal(optimizeGraph(plain, target).fused.MultiHeadAttention, 2);
  });

  it('removes the constants, and the dynamic export\'s spec computations, only the fused nodes used', () => {
    for (const name of ['classic-baddbmm', 'classic-baddbmm.dynamic', 'clip-transformers-padded.dynamic']) {
      const plain = new Uint8Array(fs.readFileSync(blocks.find((b) => b.name === name)!.files.float32));
      const graph = onnx.ModelProto.decode(optimizeGraph(plain, 'cpu').bytes).graph!;
      const read = new Set([...(graph.node ?? []).flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name!)]);
      const unread = (graph.node ?? []).filter((n) => !(n.output ?? []).some((o) => read.has(o))).map((n) => n.output![0]);
      assert.deepEqual(unread, [], name);
      assert.deepEqual((graph.initializer ?? []).filter((t) => !read.has(t.name!)).map((t) => t.name), [], name);
    }
  });
});

/** A batch of 2 of `length` token ids inside the text encoder's vocabulary (random ids would run past it), of the type it reads. */
function tokenFeeds(model: Uint8Array, length: number): Record<string, ort.Tensor> {
  const ids = randomFeeds(model, { input_ids: [2, length] }).input_ids!;
  const values = Array.from({ length: 2 * length }, (_, i) => (i * 37 + 5) % 400);
  const dims = [2, length];
  return { input_ids: ids.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims) : new ort.Tensor('int32', Int32Array.from(values), dims) };
}

describe("graph optimizer on the project builder's plain UNets", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-optimizer-unet-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: [string, PipelineConfig][] = [
    ['tiny-sd15', TINY_SD15],
    ['tiny-sdxl', TINY_SDXL],
    ['tiny-sd15 with external data', { ...TINY_SD15, name: 'tiny-sd15-external', weights: { ...TINY_SD15.weights, externalData: true } }],
  ];
  for (const [label, config] of cases) {
    it(`${label}: every UNet, VAE and (causal, masked) text-encoder attention fused, outputs as before`, async () => {
      const pipeline = path.join(dir, config.name);
      await buildPipeline(pipeline, config, { seed: 3 });
      for (const part of ['unet', 'vae_decoder', 'text_encoder', ...(config.textEncoder2 ? ['text_encoder_2'] : [])]) {
        const file = path.join(pipeline, part, 'model.onnx');
        const plain = new Uint8Array(fs.readFileSync(file));
        const attentions = countOps(plain, 'Softmax');
        assert.ok(attentions > 0, `${label} ${part} has attention to fuse`);
        const { bytes, fused } = optimizeGraph(plain, 'cpu');
        assert.deepEqual(fused, { MultiHeadAttention: attentions }, `${label} ${part}`);
        assert.equal(countOps(bytes, 'Softmax'), 0);
        const biased = (onnx.ModelProto.decode(bytes).graph!.node ?? []).filter((n) => n.opType === 'MultiHeadAttention' && n.input?.[5]);
        assert.equal(biased.length, part.startsWith('text_encoder') ? attentions : 0, `${label} ${part}: the causal mask as attention_bias`);
        // Beside the original, so weights kept in model.onnx_data are found by the same relative references.
        const optimized = path.join(pipeline, part, 'model.optimized.onnx');
        fs.writeFileSync(optimized, bytes);
        if (!part.startsWith('text_encoder')) await assertSameOutputs(file, optimized, randomFeeds(plain), TOLERANCE.float32);
        // The mask is cut to the ids' length at run time: the full 77 and a shorter prompt.
        else for (const length of [77, 9]) await assertSameOutputs(file, optimized, tokenFeeds(plain, length), TOLERANCE.float32);
      }
    });
  }

  it('keeps external-data references exactly as they were', async () => {
    const pipeline = path.join(dir, 'tiny-sd15-external');
    const plain = onnx.ModelProto.decode(fs.readFileSync(path.join(pipeline, 'unet', 'model.onnx')));
    const optimized = onnx.ModelProto.decode(optimizeGraph(new Uint8Array(fs.readFileSync(path.join(pipeline, 'unet', 'model.onnx'))), 'cpu').bytes);
    const references = (model: typeof plain) => new Map((model.graph!.initializer ?? []).filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).map((t) => [t.name, JSON.stringify(t.externalData)]));
    const before = references(plain);
    assert.ok(before.size > 0, 'the model keeps weights outside');
    assert.deepEqual(references(optimized), before);
  });
});
