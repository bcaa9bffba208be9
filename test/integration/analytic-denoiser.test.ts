/**
 * The whole sampling path on a real ONNX Runtime session: an ONNX "UNet" that predicts the exact ε or
 * v for Gaussian data x0 ~ N(μ, s²) (tools/model-builder/analytic-denoiser.ts), called through
 * createModelDenoiser (timestep conversion, input scaling, ε/v conversion, guidance batching) by
 * every sampler. For the closed forms used here see test/unit/samplers.test.ts: the probability-flow
 * ODE maps x_T at σ_T to x0 = μ + (x_T − μ)·s/sqrt(s² + σ_T²).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

import { createModelDenoiser } from '../../src/diffusion/model-denoiser.js';
import { createNoise } from '../../src/diffusion/noise.js';
import { resolveSampler } from '../../src/diffusion/samplers/registry.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import type { Denoiser, SchedulerConfig } from '../../src/diffusion/types.js';
import type { UNetCall } from '../../src/diffusion/unet-call.js';
import { ANALYTIC_UNET_TOKENS, buildAnalyticUNet, type AnalyticUNetOptions } from '../../tools/model-builder/analytic-denoiser.js';

const MU = 0.5;
const S = 0.8;
const CONTEXT_DIM = 8;
const CONFIG: SchedulerConfig = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', steps_offset: 1 };
const schedule = createDiscreteSchedule(CONFIG);
const PREDICTION_TYPES = ['epsilon', 'v_prediction'] as const;
type PredictionType = (typeof PREDICTION_TYPES)[number];

async function session(options: Partial<AnalyticUNetOptions> & { predictionType: PredictionType }): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(buildAnalyticUNet({ mean: MU, std: S, config: CONFIG, contextDim: CONTEXT_DIM, ...options }));
}

/** The UNetCall the pipeline would make, on an ORT session with the diffusers UNet signature. */
function onnxUNet(model: ort.InferenceSession): UNetCall & { calls: { batch: number }[] } {
  const calls: { batch: number }[] = [];
  const call = async (sample: Float32Array, sampleShape: number[], timestep: number, context: Float32Array, contextShape: number[]) => {
    calls.push({ batch: sampleShape[0]! });
    const out = await model.run({
      sample: new ort.Tensor('float32', sample, sampleShape),
      timestep: new ort.Tensor('float32', Float32Array.of(timestep), [1]),
      encoder_hidden_states: new ort.Tensor('float32', context, contextShape),
    });
    return out.out_sample!.data as Float32Array;
  };
  return Object.assign(call, { calls });
}

interface Variant {
  predictionType: PredictionType;
  guided: boolean;
}
const VARIANTS: Variant[] = PREDICTION_TYPES.flatMap((predictionType) => [false, true].map((guided) => ({ predictionType, guided })));
const label = (v: Variant) => `${v.predictionType}${v.guided ? ', CFG 7.5' : ''}`;

/**
 * A model-denoiser over the ONNX model. With guidance, cond and uncond are the same embeddings (and the
 * model ignores them anyway), so guidance must leave the answer unchanged while still batching 2n.
 */
function onnxDenoiser(model: ort.InferenceSession, variant: Variant, latentShape: [number, number, number, number]) {
  const unet = onnxUNet(model);
  const contextShape: [number, number, number] = [latentShape[0], ANALYTIC_UNET_TOKENS, CONTEXT_DIM];
  const cond = createNoise(99).randn(contextShape[0] * ANALYTIC_UNET_TOKENS * CONTEXT_DIM);
  const denoise = createModelDenoiser({
    unet,
    schedule,
    predictionType: variant.predictionType,
    latentShape,
    cond,
    uncond: variant.guided ? cond.slice() : undefined,
    contextShape,
    guidanceScale: variant.guided ? 7.5 : 1,
  });
  return { denoise, unet };
}

/** The same ideal denoiser in plain JS (float64 arithmetic): E[x0 | x] = (s²x + σ²μ)/(s² + σ²). */
function posteriorMean(mean: number, std: number): Denoiser {
  return async (x, sigma) => {
    const a = (std * std) / (std * std + sigma * sigma);
    const b = (sigma * sigma * mean) / (std * std + sigma * sigma);
    return x.map((v) => a * v + b);
  };
}

function startingLatents(size: number, sigmaMax: number, seed: number): Float32Array {
  return createNoise(seed).randn(size).map((v) => v * sigmaMax);
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k]! - b[k]!));
  return worst;
}

describe('the analytic ONNX UNet', () => {
  const models = new Map<PredictionType, ort.InferenceSession>();
  before(async () => {
    for (const predictionType of PREDICTION_TYPES) models.set(predictionType, await session({ predictionType }));
  });

  it('has a diffusers UNet export’s signature: sample, timestep [1], encoder_hidden_states → out_sample', () => {
    const model = onnxProto.onnx.ModelProto.decode(buildAnalyticUNet({ mean: 0, std: 1, predictionType: 'epsilon', config: CONFIG }));
    const dims = (info: onnxProto.onnx.IValueInfoProto) => info.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    const FLOAT = onnxProto.onnx.TensorProto.DataType.FLOAT;
    const inputs = Object.fromEntries(model.graph!.input!.map((i) => [i.name, { dims: dims(i), type: i.type!.tensorType!.elemType }]));
    assert.deepEqual(inputs, {
      sample: { dims: ['batch', 4, 'height', 'width'], type: FLOAT },
      timestep: { dims: [1], type: FLOAT },
      encoder_hidden_states: { dims: ['batch', 77, 768], type: FLOAT },
    });
    assert.deepEqual(model.graph!.output!.map((o) => [o.name, dims(o)]), [['out_sample', ['batch', 4, 'height', 'width']]]);
    const loaded = models.get('epsilon')!;
    assert.deepEqual([...loaded.inputNames].sort(), ['encoder_hidden_states', 'sample', 'timestep']);
    assert.deepEqual(loaded.outputNames, ['out_sample']);
  });

  it('predicts exactly the ε and v of the Gaussian posterior mean, at whole and fractional timesteps', async () => {
    const shape: [number, number, number, number] = [2, 4, 3, 5];
    const size = 2 * 4 * 3 * 5;
    for (const predictionType of PREDICTION_TYPES) {
      const model = models.get(predictionType)!;
      for (const timestep of [0, 1, 250.25, 353.5, 777, 998.9, 999]) {
        const sigma = schedule.timestepToSigma(timestep);
        const x = startingLatents(size, sigma, 3).map((v) => v + MU);
        const sample = x.map((v) => v / Math.sqrt(sigma * sigma + 1));
        const context = createNoise(4).randn(2 * ANALYTIC_UNET_TOKENS * CONTEXT_DIM);
        const out = await onnxUNet(model)(sample, shape, timestep, context, [2, ANALYTIC_UNET_TOKENS, CONTEXT_DIM]);
        // D = (s²x + σ²μ)/(s² + σ²); ε = (x − D)/σ; v = (x/(σ²+1) − D)·sqrt(σ²+1)/σ, all in float64 here.
        const expected = Array.from(x, (xi) => {
          const d = (S * S * xi + sigma * sigma * MU) / (S * S + sigma * sigma);
          return predictionType === 'epsilon' ? (xi - d) / sigma : ((xi / (sigma * sigma + 1) - d) * Math.sqrt(sigma * sigma + 1)) / sigma;
        });
        const scale = Math.max(...expected.map(Math.abs));
        assert.ok(maxAbsDifference(out, expected) < 2e-5 * Math.max(1, scale), `${predictionType} t=${timestep}: off by ${maxAbsDifference(out, expected)}`);
      }
    }
  });

  it('so the model-denoiser returns the posterior mean, with and without guidance, for both prediction types', async () => {
    const shape: [number, number, number, number] = [1, 4, 8, 8];
    for (const variant of VARIANTS) {
      const { denoise, unet } = onnxDenoiser(models.get(variant.predictionType)!, variant, shape);
      for (const sigma of [schedule.sigmaMin, 0.37, 1, 4.2, schedule.sigmaMax]) {
        const x = startingLatents(256, Math.sqrt(S * S + sigma * sigma), 5).map((v) => v + MU);
        const expected = await posteriorMean(MU, S)(x, sigma);
        const error = maxAbsDifference(await denoise(x, sigma), expected);
        assert.ok(error < 1e-5, `${label(variant)} σ=${sigma}: off by ${error}`);
      }
      assert.ok(unet.calls.every((c) => c.batch === (variant.guided ? 2 : 1)), `${label(variant)}: batches ${unet.calls.map((c) => c.batch)}`);
    }
  });

  it('with target ode-endpoint, the model-denoiser returns the ODE endpoint μ + (x − μ)·s/sqrt(s² + σ²) instead', async () => {
    const shape: [number, number, number, number] = [1, 4, 8, 8];
    for (const variant of VARIANTS) {
      const model = await session({ predictionType: variant.predictionType, target: 'ode-endpoint' });
      const { denoise } = onnxDenoiser(model, variant, shape);
      for (const sigma of [schedule.sigmaMin, 0.37, 1, 4.2, schedule.sigmaMax]) {
        const x = startingLatents(256, Math.sqrt(S * S + sigma * sigma), 5).map((v) => v + MU);
        const shrink = S / Math.sqrt(S * S + sigma * sigma);
        const error = maxAbsDifference(await denoise(x, sigma), Array.from(x, (v) => MU + (v - MU) * shrink));
        assert.ok(error < 1e-5, `${label(variant)} σ=${sigma}: off by ${error}`);
      }
    }
  });

  it('consumes encoder_hidden_states (a NaN shows through) without letting finite values change the answer', async () => {
    const model = models.get('epsilon')!;
    const sample = createNoise(6).randn(4 * 4 * 4);
    const run = (context: Float32Array) => onnxUNet(model)(sample, [1, 4, 4, 4], 500, context, [1, ANALYTIC_UNET_TOKENS, CONTEXT_DIM]);
    const contextSize = ANALYTIC_UNET_TOKENS * CONTEXT_DIM;
    const zeros = await run(new Float32Array(contextSize));
    assert.deepEqual(await run(createNoise(7).randn(contextSize).map((v) => v * 100)), zeros);
    const poisoned = new Float32Array(contextSize);
    poisoned[17] = Number.NaN;
    assert.ok((await run(poisoned)).every(Number.isNaN));
  });
});

describe('samplers through ORT and the model-denoiser', () => {
  const models = new Map<string, ort.InferenceSession>();
  const modelFor = (predictionType: PredictionType, std = S, target: AnalyticUNetOptions['target'] = 'posterior-mean') => models.get(`${predictionType}/${std}/${target}`)!;
  before(async () => {
    for (const predictionType of PREDICTION_TYPES) {
      models.set(`${predictionType}/${S}/posterior-mean`, await session({ predictionType }));
      models.set(`${predictionType}/0/posterior-mean`, await session({ predictionType, std: 0 }));
      models.set(`${predictionType}/${S}/ode-endpoint`, await session({ predictionType, target: 'ode-endpoint' }));
    }
  });

  const SHAPE: [number, number, number, number] = [1, 4, 16, 16];
  const SIZE = 4 * 16 * 16;

  for (const variant of VARIANTS) {
    it(`deterministic samplers converge to the ODE’s closed form (${label(variant)})`, async () => {
      const tolerance40: Record<string, number> = { Euler: 0.15, DDIM: 0.15, 'DPM++ 2M': 0.1, Heun: 0.005, 'DPM++ 2M Karras': 0.01, UniPC: 0.1 };
      for (const name of ['Euler', 'Heun', 'DDIM', 'DPM++ 2M', 'DPM++ 2M Karras', 'UniPC']) {
        const { sample, sigmas: sigmasFor } = resolveSampler(name);
        const errors: number[] = [];
        for (const steps of [10, 20, 40]) {
          const sigmas = sigmasFor(steps, schedule, CONFIG);
          const xT = startingLatents(SIZE, sigmas[0]!, 1);
          const { denoise } = onnxDenoiser(modelFor(variant.predictionType), variant, SHAPE);
          const out = await sample(xT, { denoise, sigmas, noise: createNoise(2) });
          const shrink = S / Math.sqrt(S * S + sigmas[0]! ** 2);
          errors.push(maxAbsDifference(out, Array.from(xT, (x) => MU + (x - MU) * shrink)));
          // The same run with the float64 JS denoiser: ORT changes nothing but rounding.
          const reference = await sample(xT, { denoise: posteriorMean(MU, S), sigmas, noise: createNoise(2) });
          assert.ok(maxAbsDifference(out, reference) < 1e-4, `${name}, ${steps} steps: ORT vs JS ${maxAbsDifference(out, reference)}`);
        }
        assert.ok(errors[2]! < errors[1]! && errors[1]! < errors[0]!, `${name}: errors 10/20/40 steps ${errors.join(', ')}`);
        assert.ok(errors[2]! < tolerance40[name]!, `${name} at 40 steps: ${errors[2]}`);
      }
    });
  }

  it('every sampler lands on μ when the data is a single point (s = 0), both prediction types, with CFG', async () => {
    for (const predictionType of PREDICTION_TYPES) {
      for (const name of ['Euler a', 'Euler', 'Heun', 'DDIM', 'DPM++ 2M', 'DPM++ 2M Karras', 'DPM++ 2M SDE Karras', 'DPM++ SDE Karras', 'UniPC', 'LCM']) {
        const { sample, sigmas: sigmasFor } = resolveSampler(name);
        const sigmas = sigmasFor(8, schedule, CONFIG);
        const { denoise } = onnxDenoiser(modelFor(predictionType, 0), { predictionType, guided: true }, SHAPE);
        const out = await sample(startingLatents(SIZE, sigmas[0]!, 8), { denoise, sigmas, noise: createNoise(9) });
        const error = maxAbsDifference(out, new Float32Array(SIZE).fill(MU));
        assert.ok(error < 1e-4, `${name} (${predictionType}): off μ by ${error}`);
      }
    }
  });

  /**
   * Stochastic samplers: mean and variance over 4·64·64 i.i.d. elements. Tolerance: five standard
   * errors (SE(mean) = s/√n ≈ 0.0063, SE(var) = s²·sqrt(2/n) ≈ 0.0071) plus the discretization bias
   * at the chosen step count, which test/unit/samplers.test.ts computes exactly by a linear-Gaussian
   * recursion: Euler a at 400 steps has variance 0.625 (bias 2.3% of s² = 0.64), DPM++ 2M SDE Karras
   * at 50 steps 0.6455 (0.9%), DPM++ SDE Karras at 50 steps 0.637 (0.5%), LCM with a consistency model
   * is exact (the ODE-endpoint model here).
   * The mean is off by at most 0.0015 (the start at N(0, σ_max²) instead of N(μ, s² + σ_max²)).
   */
  const STATS_SHAPE: [number, number, number, number] = [1, 4, 64, 64];
  const STATS_SIZE = 4 * 64 * 64;
  const stochastic = [
    { name: 'Euler a', steps: 400, varianceBias: 0.025, target: 'posterior-mean' as const },
    { name: 'DPM++ 2M SDE Karras', steps: 50, varianceBias: 0.01, target: 'posterior-mean' as const },
    { name: 'DPM++ SDE Karras', steps: 50, varianceBias: 0.01, target: 'posterior-mean' as const },
    { name: 'LCM', steps: 6, varianceBias: 0.001, target: 'ode-endpoint' as const },
  ];
  for (const variant of [VARIANTS[0]!, VARIANTS[3]!]) {
    it(`stochastic samplers reproduce the data’s mean and variance (${label(variant)})`, async () => {
      for (const { name, steps, varianceBias, target } of stochastic) {
        const { sample, sigmas: sigmasFor } = resolveSampler(name);
        const sigmas = sigmasFor(steps, schedule, CONFIG);
        const { denoise } = onnxDenoiser(modelFor(variant.predictionType, S, target), variant, STATS_SHAPE);
        const out = await sample(startingLatents(STATS_SIZE, sigmas[0]!, 10), { denoise, sigmas, noise: createNoise(11) });
        let sum = 0;
        for (const v of out) sum += v;
        const mean = sum / STATS_SIZE;
        let squares = 0;
        for (const v of out) squares += (v - mean) ** 2;
        const variance = squares / (STATS_SIZE - 1);
        const meanTolerance = 5 * (S / Math.sqrt(STATS_SIZE)) + 0.0015;
        const varianceTolerance = 5 * S * S * Math.sqrt(2 / (STATS_SIZE - 1)) + varianceBias * S * S;
        assert.ok(Math.abs(mean - MU) < meanTolerance, `${name}: mean ${mean} vs ${MU} ± ${meanTolerance}`);
        assert.ok(Math.abs(variance - S * S) < varianceTolerance, `${name}: variance ${variance} vs ${S * S} ± ${varianceTolerance}`);
      }
    });
  }
});
