import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import onnxProto from 'onnx-proto';

import { optimizeGraph, type OptimizeTarget } from '../../src/diffusion/graph-optimizer/index.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { expandContribOps } from '../helpers/contrib-reference.js';
import { compareRuns, countOps, randomFeeds } from '../helpers/onnx-parity.js';
import { referenceBiasAdd, referenceBiasSplitGelu } from '../helpers/reference-bias-ops.js';

const { onnx } = onnxProto;
const EXPORTER = path.resolve('tools/torch-export/attention_blocks.py');
const TOLERANCE = { float32: 1e-4, float16: 2e-2 } as const;
const GPU_TARGETS = ['cuda', 'webgpu'] as const;
const EXPANSIONS = { BiasSplitGelu: referenceBiasSplitGelu, BiasAdd: referenceBiasAdd };

interface ExportedBlock {
  name: string;
  inputs: Record<string, number[]>;
  files: { float32: string; float16: string; inferred: string };
}

/** Plain and optimized compute the same on ORT's CPU, the GPU-only fused ops spelled out in standard ONNX. */
async function assertSameOutputs(plain: Uint8Array | string, optimized: Uint8Array, feeds: Parameters<typeof compareRuns>[2], tolerance: number): Promise<void> {
  for (const { name, maxAbsDifference, scale } of await compareRuns(plain, expandContribOps(optimized, EXPANSIONS), feeds)) {
    assert.ok(scale > 0, `${name} is all zeros: the comparison would prove nothing`);
    assert.ok(maxAbsDifference <= tolerance * scale, `${name}: max |Δ| ${maxAbsDifference} over scale ${scale}`);
  }
}

function nodesOf(model: Uint8Array, opType: string): onnxProto.onnx.INodeProto[] {
  return (onnx.ModelProto.decode(model).graph!.node ?? []).filter((n) => n.opType === opType);
}

function producerOf(model: Uint8Array, value: string): string | undefined {
  return (onnx.ModelProto.decode(model).graph!.node ?? []).find((n) => n.output?.includes(value))?.opType ?? undefined;
}

describe('BiasSplitGelu, BiasAdd and SkipLayerNormalization on torch.onnx.export output (torch 1.13, opset 17)', () => {
  let dir: string;
  let blocks: ExportedBlock[];
  const plainBytes = (name: string, dtype: 'float32' | 'float16' = 'float32') => new Uint8Array(fs.readFileSync(blocks.find((b) => b.name === name)!.files[dtype]));
  const inputs = (name: string) => blocks.find((b) => b.name === name)!.inputs;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-optimizer-bias-'));
    execFileSync('/usr/bin/python3', [EXPORTER, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    blocks = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportedBlock[];
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const dtype of ['float32', 'float16'] as const) {
    it(`fuses the ${dtype} GEGLU at D = 2560 (SD's 320 channels) into BiasSplitGelu(MatMul output, bias) for cuda and webgpu, computing the same`, async () => {
      for (const name of ['geglu-320', 'transformer-320']) {
        const plain = plainBytes(name, dtype);
        assert.equal(countOps(plain, 'Erf'), 1, `${name}: the export holds one exact GELU`);
        for (const target of GPU_TARGETS) {
          const { bytes, fused } = optimizeGraph(plain, target);
          assert.equal(fused.BiasSplitGelu, 1, `${name} ${target}`);
          const [node] = nodesOf(bytes, 'BiasSplitGelu');
          assert.equal(node!.domain, 'com.microsoft');
          assert.equal(producerOf(bytes, node!.input![0]!), 'MatMul', `${name} ${target}: X is the projection's MatMul output`);
          assert.equal(node!.input![1], 'ff.0.proj.bias', `${name} ${target}: the projection's own bias`);
          assert.equal(countOps(bytes, 'Erf'), 0, `${name} ${target}: no plain GELU left`);
          // The chunk's Slices and the Shape arithmetic for their bounds went with it.
          if (name === 'geglu-320') for (const op of ['Slice', 'Shape', 'Gather', 'Div']) assert.equal(countOps(bytes, op), 0, `${name} ${target}: ${op}`);
          await assertSameOutputs(plain, bytes, randomFeeds(plain, inputs(name)), TOLERANCE[dtype]);
        }
        assert.equal(optimizeGraph(plain, 'cpu').fused.BiasSplitGelu, undefined, `${name}: the CPU provider has no BiasSplitGelu kernel`);
      }
    });

    it(`leaves the ${dtype} GEGLU near misses plain: GELU on the first half, tanh-approximate GELU, a gate read elsewhere`, () => {
      for (const name of ['geglu-320-gate-first', 'geglu-320-tanh', 'geglu-320-gate-read']) {
        const plain = plainBytes(name, dtype);
        for (const target of [...GPU_TARGETS, 'cpu'] as const) {
          const { bytes, fused } = optimizeGraph(plain, target);
          assert.equal(fused.BiasSplitGelu, undefined, `${name} ${target}`);
          assert.equal(countOps(bytes, 'BiasSplitGelu'), 0, `${name} ${target}`);
          assert.equal(countOps(bytes, 'Erf'), countOps(plain, 'Erf'), `${name} ${target}`);
        }
      }
    });
  }

  it('fuses the GEGLU of D = 512 for webgpu only: the CUDA kernel takes D of 2560, 5120 or 10240', async () => {
    for (const name of ['classic-baddbmm', 'four-d']) {
      const plain = plainBytes(name);
      assert.equal(optimizeGraph(plain, 'cuda').fused.BiasSplitGelu, undefined, name);
      const { bytes, fused } = optimizeGraph(plain, 'webgpu');
      assert.equal(fused.BiasSplitGelu, 1, name);
      await assertSameOutputs(plain, bytes, randomFeeds(plain, inputs(name)), TOLERANCE.float32);
    }
  });

  for (const dtype of ['float32', 'float16'] as const) {
    it(`fuses the ${dtype} bias Add + residual Add at C = 320 into BiasAdd(MatMul output, bias, skip) for cuda and webgpu, computing the same`, async () => {
      // name: [bias, skip]; transformer-320's attention residuals feed a LayerNormalization and stay for SkipLayerNormalization.
      const cases: Record<string, [string, string | undefined]> = {
        'geglu-320': ['ff.1.bias', 'x'],
        'geglu-320-dynamic': ['ff.1.bias', 'x'],
        'transformer-320': ['ff.1.bias', undefined],
        'linear-residual-320': ['proj.bias', 'skip'],
      };
      for (const [name, [bias, skip]] of Object.entries(cases)) {
        const plain = plainBytes(name, dtype);
        for (const target of GPU_TARGETS) {
          const { bytes, fused } = optimizeGraph(plain, target);
          assert.equal(fused.BiasAdd, 1, `${name} ${target}`);
          const [node] = nodesOf(bytes, 'BiasAdd');
          assert.equal(node!.domain, 'com.microsoft');
          assert.equal(producerOf(bytes, node!.input![0]!), 'MatMul', `${name} ${target}: X is the projection's MatMul output`);
          assert.equal(node!.input![1], bias, `${name} ${target}`);
          if (skip) assert.equal(node!.input![2], skip, `${name} ${target}`);
          assert.equal(node!.output![0], 'out', `${name} ${target}: it writes the block's output`);
          await assertSameOutputs(plain, bytes, randomFeeds(plain, inputs(name)), TOLERANCE[dtype]);
        }
        assert.equal(optimizeGraph(plain, 'cpu').fused.BiasAdd, undefined, `${name}: the CPU provider has no BiasAdd kernel`);
      }
    });
  }

  it('leaves bias + residual Adds plain where BiasAdd cannot take them: C = 64, a skip broadcast over the batch, a bias sum read elsewhere', () => {
    for (const name of ['classic-baddbmm', 'four-d', 'linear-residual-320-broadcast', 'linear-residual-320-sum-read']) {
      const plain = plainBytes(name);
      for (const target of GPU_TARGETS) {
        const { bytes, fused } = optimizeGraph(plain, target);
        assert.equal(fused.BiasAdd, undefined, `${name} ${target}`);
        assert.equal(countOps(bytes, 'BiasAdd'), 0, `${name} ${target}`);
      }
    }
    // With nothing else to fuse, the bytes stay as they were.
    for (const name of ['linear-residual-320-broadcast', 'linear-residual-320-sum-read']) {
      const plain = plainBytes(name);
      for (const target of GPU_TARGETS) assert.equal(optimizeGraph(plain, target).bytes, plain, `${name} ${target}`);
    }
  });

  for (const dtype of ['float32', 'float16'] as const) {
    it(`fuses the ${dtype} residual Add + LayerNormalization into SkipLayerNormalization for webgpu only, the sum as its 4th output where read elsewhere, computing the same`, async () => {
      // name: [fused, of them with the projection's bias folded in, of them handing the sum on]
      const cases: Record<string, [number, number, number]> = {
        'transformer-320': [2, 2, 2],
        'four-d': [2, 2, 2],
        'classic-baddbmm': [2, 2, 2],
        'clip-causal': [1, 1, 1],
        'residual-norm': [1, 0, 0],
      };
      for (const [name, [count, biased, handing]] of Object.entries(cases)) {
        const plain = plainBytes(name, dtype);
        const { bytes, fused } = optimizeGraph(plain, 'webgpu');
        assert.equal(fused.SkipLayerNormalization, count, name);
        assert.equal(countOps(bytes, 'LayerNormalization'), countOps(plain, 'LayerNormalization') - count, name);
        const nodes = nodesOf(bytes, 'SkipLayerNormalization');
        assert.equal(nodes.filter((n) => n.input?.[4]).length, biased, `${name}: bias inputs`);
        assert.equal(nodes.filter((n) => n.output?.[3]).length, handing, `${name}: input_skip_bias_sum outputs`);
        for (const n of nodes) assert.equal(n.domain, 'com.microsoft');
        // The CPU provider has a SkipLayerNormalization kernel: this runs the fused node itself.
        await assertSameOutputs(plain, bytes, randomFeeds(plain, inputs(name)), TOLERANCE[dtype]);
        for (const target of ['cuda', 'cpu'] as const) assert.equal(optimizeGraph(plain, target).fused.SkipLayerNormalization, undefined, `${name} ${target}: ORT fuses it itself`);
      }
      // The feed-forward residual after them still becomes BiasAdd, its skip the second SkipLayerNormalization's sum.
      const transformer = optimizeGraph(plainBytes('transformer-320', dtype), 'webgpu');
      assert.equal(transformer.fused.BiasAdd, 1);
      const sums = nodesOf(transformer.bytes, 'SkipLayerNormalization').map((n) => n.output![3]);
      assert.ok(sums.includes(nodesOf(transformer.bytes, 'BiasAdd')[0]!.input![2]));
    });
  }

  it('copies the LayerNormalization epsilon, and leaves a skip broadcast over the batch plain', () => {
    const [node] = nodesOf(optimizeGraph(plainBytes('residual-norm'), 'webgpu').bytes, 'SkipLayerNormalization');
    assert.ok(Math.abs(node!.attribute!.find((a) => a.name === 'epsilon')!.f! - 1e-6) < 1e-12);
    const plain = plainBytes('residual-norm-broadcast');
    const result = optimizeGraph(plain, 'webgpu');
    assert.equal(result.bytes, plain);
    assert.deepEqual(result.fused, {});
  });

  it('fuses with value_info present, and drops the value_info of the values it removed', async () => {
    const cases: [string, OptimizeTarget, Record<string, number>][] = [
      ['geglu-320', 'cuda', { BiasSplitGelu: 1, BiasAdd: 1 }],
      ['transformer-320', 'webgpu', { MultiHeadAttention: 2, BiasSplitGelu: 1, SkipLayerNormalization: 2, BiasAdd: 1 }],
    ];
    for (const [name, target, expected] of cases) {
      const plain = new Uint8Array(fs.readFileSync(blocks.find((b) => b.name === name)!.files.inferred));
      const { bytes, fused } = optimizeGraph(plain, target);
      assert.deepEqual(fused, expected, `${name} ${target}`);
      const graph = onnx.ModelProto.decode(bytes).graph!;
      const produced = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
      assert.deepEqual((graph.valueInfo ?? []).map((v) => v.name).filter((value) => !produced.has(value!)), [], `${name} ${target}`);
      await assertSameOutputs(plain, bytes, randomFeeds(plain, inputs(name)), TOLERANCE.float32);
    }
  });
});

describe("BiasSplitGelu and SkipLayerNormalization on the project builder's UNet (GEGLU as MatMul, Add, Split, x·(1/√2) GELU)", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-optimizer-bias-unet-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('tiny-sd15 (D of 256 and 512): every GEGLU and residual LayerNorm fused for webgpu, no GEGLU for cuda, outputs as before', async () => {
    const pipeline = path.join(dir, TINY_SD15.name);
    await buildPipeline(pipeline, TINY_SD15, { seed: 3 });
    const plain = new Uint8Array(fs.readFileSync(path.join(pipeline, 'unet', 'model.onnx')));
    const gelus = countOps(plain, 'Erf');
    assert.ok(gelus > 0, 'the UNet has GEGLU feed-forwards');
    const expected: Record<OptimizeTarget, number | undefined> = { webgpu: gelus, cuda: undefined, cpu: undefined };
    for (const target of ['webgpu', 'cuda', 'cpu'] as const) assert.equal(optimizeGraph(plain, target).fused.BiasSplitGelu, expected[target], target);
    const { bytes, fused } = optimizeGraph(plain, 'webgpu');
    assert.equal(countOps(bytes, 'Erf'), 0);
    // Each transformer block's norm2 and norm3 follow a residual sum.
    assert.equal(fused.SkipLayerNormalization, 2 * gelus);
    await assertSameOutputs(plain, bytes, randomFeeds(plain), TOLERANCE.float32);
  });
});
