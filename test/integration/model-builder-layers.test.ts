/**
 * The builder's layers checked numerically against plain-JS reference math, so a wrong reshape,
 * transpose or formula shows up as a number, not just as "the UNet still runs".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

import { startComponent } from '../../tools/model-builder/component.js';
import type { Layers } from '../../tools/model-builder/layers.js';
import { DataType } from '../../tools/model-builder/onnx-graph.js';
import { timestepEmbedding } from '../../tools/model-builder/unet.js';

interface Probe {
  /** Runs the graph on `x` (float32, the given dims) and returns the single output. */
  run(x: Float32Array, dims: number[]): Promise<Float32Array>;
  /** A weight the builder generated, by the name the layer gave it. */
  weight(name: string): Float32Array;
}

/** Builds a one-input one-output graph around `body` and opens it with ORT. */
async function probe(inputDims: (number | string)[], body: (l: Layers, x: string) => string, outputRank = inputDims.length): Promise<Probe> {
  const { layers } = startComponent('probe', 7, 'float32');
  const g = layers.graph;
  const x = g.input('x', DataType.FLOAT, inputDims);
  g.alias(body(layers, x), 'y');
  g.output('y', DataType.FLOAT, Array.from({ length: outputRank }, (_, i) => `d${i}`));
  const bytes = g.encode();
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const session = await ort.InferenceSession.create(bytes);
  return {
    async run(values, dims) {
      const result = await session.run({ x: new ort.Tensor('float32', values, dims) });
      return result.y!.data as Float32Array;
    },
    weight(name) {
      const tensor = model.graph!.initializer!.find((t) => t.name!.startsWith(`${name}_`));
      assert.ok(tensor?.rawData, `weight ${name}`);
      // Copy: rawData need not be 4-byte aligned.
      return new Float32Array(Uint8Array.from(tensor.rawData).buffer);
    },
  };
}

function wave(length: number, phase = 0): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i * 0.73 + phase) * 2);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `[${i}]: ${actual[i]} vs ${expected[i]}`);
}

/** y[r][c] = Σ x[r][k]·W[k][c] + b[c], W stored [in, out] as the builder stores it. */
function linear(x: number[][], weight: Float32Array, bias: Float32Array, outFeatures: number): number[][] {
  return x.map((row) => Array.from({ length: outFeatures }, (_, c) => row.reduce((sum, v, k) => sum + v * weight[k * outFeatures + c]!, bias[c]!)));
}

/** Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

describe('model builder layers match reference math', () => {
  it('GroupNorm via InstanceNormalization normalises each (batch, group) over its channels and pixels', async () => {
    const [batch, channels, groups, pixels] = [2, 8, 4, 15];
    const p = await probe([batch, channels, 3, 5], (l, x) => l.groupNorm(x, channels, groups, 1e-5, 'norm'));
    const x = wave(batch * channels * pixels);
    const expected = new Float32Array(x.length);
    const span = (channels / groups) * pixels;
    for (let start = 0; start < x.length; start += span) {
      const slice = x.subarray(start, start + span);
      const mean = slice.reduce((a, b) => a + b, 0) / span;
      const variance = slice.reduce((a, b) => a + (b - mean) ** 2, 0) / span;
      slice.forEach((v, i) => (expected[start + i] = (v - mean) / Math.sqrt(variance + 1e-5)));
    }
    assertClose(await p.run(x, [batch, channels, 3, 5]), expected, 1e-4);
  });

  it('multi-head attention splits heads, scales by 1/√headDim, applies the mask', async () => {
    const [tokens, dim, heads] = [5, 6, 3];
    const headDim = dim / heads;
    // Causal mask, as the text encoder uses it; self-attention so q, k and v share the input.
    const mask = Array.from({ length: tokens * tokens }, (_, i) => (i % tokens > Math.floor(i / tokens) ? -1e9 : 0));
    const p = await probe([1, tokens, dim], (l, x) =>
      l.attention(x, x, { queryDim: dim, contextDim: dim, heads, qkvBias: true, mask: l.graph.floats('mask', mask, [tokens, tokens]), name: 'attn' }),
    );
    const xFlat = wave(tokens * dim);
    const x = Array.from({ length: tokens }, (_, i) => [...xFlat.subarray(i * dim, (i + 1) * dim)]);
    const project = (name: string, input: number[][]): number[][] => linear(input, p.weight(`${name}.weight`), p.weight(`${name}.bias`), dim);
    const [q, k, v] = ['attn.to_q', 'attn.to_k', 'attn.to_v'].map((name) => project(name, x)) as [number[][], number[][], number[][]];
    const merged = x.map(() => new Array<number>(dim).fill(0));
    for (let h = 0; h < heads; h++) {
      const cols = Array.from({ length: headDim }, (_, t) => h * headDim + t);
      for (let i = 0; i < tokens; i++) {
        const scores = k.map((kj, j) => cols.reduce((s, c) => s + q[i]![c]! * kj[c]!, 0) / Math.sqrt(headDim) + mask[i * tokens + j]!);
        const top = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - top));
        const total = exps.reduce((a, b) => a + b, 0);
        for (const c of cols) merged[i]![c] = exps.reduce((s, e, j) => s + (e / total) * v[j]![c]!, 0);
      }
    }
    const expected = project('attn.to_out', merged).flat();
    assertClose(await p.run(xFlat, [1, tokens, dim]), expected, 1e-4);
  });

  it('timestep embedding is [cos, sin] of t·10000^(-i/half), as diffusers with flip_sin_to_cos', async () => {
    const channels = 8;
    const half = channels / 2;
    const p = await probe([3], (l, t) => timestepEmbedding(l, t, channels), 2);
    const timesteps = Float32Array.of(0, 1, 500.5);
    const expected = [...timesteps].flatMap((t) => {
      const angles = Array.from({ length: half }, (_, i) => t * Math.exp((-Math.log(10000) * i) / half));
      return [...angles.map(Math.cos), ...angles.map(Math.sin)];
    });
    assertClose(await p.run(timesteps, [3]), expected, 1e-3);
  });

  it('GELU, quick GELU and SiLU follow their formulas', async () => {
    const x = Float32Array.from({ length: 41 }, (_, i) => (i - 20) / 4);
    const cases: [(l: Layers, v: string) => string, (v: number) => number][] = [
      [(l, v) => l.gelu(v), (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))],
      [(l, v) => l.quickGelu(v), (v) => v / (1 + Math.exp(-1.702 * v))],
      [(l, v) => l.silu(v), (v) => v / (1 + Math.exp(-v))],
    ];
    for (const [layer, reference] of cases) {
      const p = await probe([x.length], layer);
      assertClose(await p.run(x, [x.length]), [...x].map(reference), 1e-5);
    }
  });

  it('nearest ×2 upsampling repeats each pixel in a 2×2 block', async () => {
    const p = await probe([1, 1, 2, 3], (l, x) => l.upsampleNearest2x(x));
    const out = await p.run(Float32Array.of(1, 2, 3, 4, 5, 6), [1, 1, 2, 3]);
    assert.deepEqual([...out], [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
  });
});
