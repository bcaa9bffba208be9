import assert from 'node:assert/strict';
import { it } from 'node:test';

import { createModelDenoiser } from '../../src/diffusion/model-denoiser.js';
import { createNoise } from '../../src/diffusion/noise.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import type { UNetCall } from '../../src/diffusion/unet-call.js';

const schedule = createDiscreteSchedule({});
const LATENT: [number, number, number, number] = [2, 4, 3, 5];
const LATENT_SIZE = 2 * 4 * 3 * 5;
const CONTEXT: [number, number, number] = [2, 77, 8];
const CONTEXT_SIZE = 2 * 77 * 8;

interface RecordedCall {
  sample: Float32Array;
  sampleShape: number[];
  timestep: number;
  context: Float32Array;
  contextShape: number[];
}

function recordingUNet(respond: (call: RecordedCall) => Float32Array): { unet: UNetCall; calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  const unet: UNetCall = async (sample, sampleShape, timestep, context, contextShape) => {
    const call = { sample: sample.slice(), sampleShape: [...sampleShape], timestep, context: context.slice(), contextShape: [...contextShape] };
    calls.push(call);
    return respond(call);
  };
  return { unet, calls };
}

function assertAllClose(actual: Float32Array, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let k = 0; k < actual.length; k++) {
    assert.ok(Math.abs(actual[k]! - expected[k]!) <= tolerance, `${what}[${k}]: ${actual[k]} vs ${expected[k]}`);
  }
}

/** A clean sample, its noise and the noised latent x = x0 + σ·n (sigma space). */
function noisedLatent(sigma: number) {
  const x0 = createNoise(1).randn(LATENT_SIZE);
  const noise = createNoise(2).randn(LATENT_SIZE);
  const x = x0.map((v, k) => v + sigma * noise[k]!);
  return { x0, noise, x };
}

it('ε-prediction: scales the input by 1/sqrt(σ²+1), passes the continuous timestep, and returns x − σ·ε', async () => {
  const sigma = 2.7;
  const { x0, noise, x } = noisedLatent(sigma);
  // A perfect ε-model answers with the noise that was added: the denoiser must then give back x0.
  const { unet, calls } = recordingUNet(() => noise);
  const cond = createNoise(3).randn(CONTEXT_SIZE);
  const denoise = createModelDenoiser({ unet, schedule, predictionType: 'epsilon', latentShape: LATENT, cond, contextShape: CONTEXT, guidanceScale: 7 });
  const denoised = await denoise(x, sigma);
  assertAllClose(denoised, x0, 1e-5, 'denoised');
  assert.equal(calls.length, 1);
  const [call] = calls;
  assert.deepEqual(call!.sampleShape, LATENT);
  assert.deepEqual(call!.contextShape, CONTEXT);
  assert.deepEqual(call!.context, cond);
  assert.equal(call!.timestep, schedule.sigmaToTimestep(sigma));
  assertAllClose(call!.sample, Array.from(x, (v) => v / Math.sqrt(sigma * sigma + 1)), 1e-6, 'scaled sample');
});

it('v-prediction: D = x/(σ²+1) − σ/sqrt(σ²+1)·v recovers x0 from a perfect v-model', async () => {
  for (const sigma of [0.05, 1, 14]) {
    const { x0, noise, x } = noisedLatent(sigma);
    // Variance-preserving view: sample = α·x0 + σ_vp·n with α = 1/sqrt(σ²+1), σ_vp = σ/sqrt(σ²+1); v = α·n − σ_vp·x0.
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    const sigmaVp = sigma * alpha;
    const v = x0.map((value, k) => alpha * noise[k]! - sigmaVp * value);
    const { unet } = recordingUNet(() => v);
    const denoise = createModelDenoiser({ unet, schedule, predictionType: 'v_prediction', latentShape: LATENT, cond: new Float32Array(CONTEXT_SIZE), contextShape: CONTEXT, guidanceScale: 1 });
    assertAllClose(await denoise(x, sigma), x0, 1e-5, `denoised at σ=${sigma}`);
  }
});

it('classifier-free guidance: one UNet call on [uncond; cond], out = out_u + g·(out_c − out_u)', async () => {
  const sigma = 3.1;
  const guidanceScale = 7.5;
  const { x } = noisedLatent(sigma);
  const cond = createNoise(4).randn(CONTEXT_SIZE);
  const uncond = createNoise(5).randn(CONTEXT_SIZE);
  const outU = createNoise(6).randn(LATENT_SIZE);
  const outC = createNoise(7).randn(LATENT_SIZE);
  const { unet, calls } = recordingUNet(() => {
    const out = new Float32Array(2 * LATENT_SIZE);
    out.set(outU);
    out.set(outC, LATENT_SIZE);
    return out;
  });
  for (const predictionType of ['epsilon', 'v_prediction'] as const) {
    calls.length = 0;
    const denoise = createModelDenoiser({ unet, schedule, predictionType, latentShape: LATENT, cond, uncond, contextShape: CONTEXT, guidanceScale });
    const denoised = await denoise(x, sigma);
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.deepEqual(call!.sampleShape, [4, 4, 3, 5]);
    assert.deepEqual(call!.contextShape, [4, 77, 8]);
    assert.deepEqual(call!.context.subarray(0, CONTEXT_SIZE), uncond);
    assert.deepEqual(call!.context.subarray(CONTEXT_SIZE), cond);
    assert.deepEqual(call!.sample.subarray(0, LATENT_SIZE), call!.sample.subarray(LATENT_SIZE));
    const guided = outU.map((u, k) => u + guidanceScale * (outC[k]! - u));
    const expected =
      predictionType === 'epsilon'
        ? x.map((value, k) => value - sigma * guided[k]!)
        : x.map((value, k) => value / (sigma * sigma + 1) - (sigma / Math.sqrt(sigma * sigma + 1)) * guided[k]!);
    assertAllClose(denoised, expected, 1e-4, `${predictionType} guided`);
  }
});

it('runs only the conditional half when guidance is off (scale ≤ 1) or there is no uncond', async () => {
  const cond = createNoise(4).randn(CONTEXT_SIZE);
  const { unet, calls } = recordingUNet((call) => new Float32Array(call.sample.length));
  const { x } = noisedLatent(1);
  for (const options of [{ uncond: cond.map((v) => -v), guidanceScale: 1 }, { uncond: cond.map((v) => -v), guidanceScale: 0.5 }, { guidanceScale: 9 }]) {
    calls.length = 0;
    const denoise = createModelDenoiser({ unet, schedule, predictionType: 'epsilon', latentShape: LATENT, cond, contextShape: CONTEXT, ...options });
    assertAllClose(await denoise(x, 1), x, 0, 'zero ε leaves x');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.sampleShape, LATENT);
    assert.deepEqual(calls[0]!.context, cond);
  }
});

it('checks shapes up front and the UNet’s output size on every call', async () => {
  const unet: UNetCall = async () => new Float32Array(7);
  const base = { unet, schedule, predictionType: 'epsilon' as const, latentShape: LATENT, cond: new Float32Array(CONTEXT_SIZE), contextShape: CONTEXT, guidanceScale: 5 };
  assert.throws(() => createModelDenoiser({ ...base, cond: new Float32Array(10) }), RangeError);
  assert.throws(() => createModelDenoiser({ ...base, uncond: new Float32Array(10) }), RangeError);
  assert.throws(() => createModelDenoiser({ ...base, contextShape: [1, 77, 8] }), RangeError);
  assert.throws(() => createModelDenoiser({ ...base, predictionType: 'sample' as never }), RangeError);
  const denoise = createModelDenoiser(base);
  await assert.rejects(denoise(new Float32Array(LATENT_SIZE), 1), /UNet returned 7 values/);
  await assert.rejects(denoise(new Float32Array(3), 1), RangeError);
});

it('unetExtraChannels go to the UNet as given, doubled for the guided halves; without them the call is unchanged', async () => {
  const received: unknown[][] = [];
  const unet: UNetCall = async (...args) => {
    received.push(args);
    return new Float32Array(args[1][0] * LATENT_SIZE / LATENT[0]);
  };
  const extra = Float32Array.from({ length: 2 * 5 * 3 * 5 }, (_, k) => k);
  const base = { unet, schedule, predictionType: 'epsilon' as const, latentShape: LATENT, cond: new Float32Array(CONTEXT_SIZE), uncond: new Float32Array(CONTEXT_SIZE), contextShape: CONTEXT };
  await createModelDenoiser({ ...base, guidanceScale: 7, unetExtraChannels: extra })(new Float32Array(LATENT_SIZE), 1);
  await createModelDenoiser({ ...base, guidanceScale: 1, unetExtraChannels: extra })(new Float32Array(LATENT_SIZE), 1);
  await createModelDenoiser({ ...base, guidanceScale: 7 })(new Float32Array(LATENT_SIZE), 1);
  assert.deepEqual(received[0]![6], Float32Array.from([...extra, ...extra]));
  assert.equal(received[1]![6], extra);
  assert.equal(received[2]!.length, 6, 'no seventh argument without extra channels');
  assert.throws(() => createModelDenoiser({ ...base, guidanceScale: 7, unetExtraChannels: new Float32Array(7) }), /unetExtraChannels has 7 values, not \[2, e, 3, 5\]/);
});
