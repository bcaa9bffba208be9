import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  createDiscreteSchedule,
  ddimSigmas,
  ddimTimesteps,
  discreteSchedule,
  exponentialSigmas,
  karrasSigmas,
  lcmSigmas,
  modelSigmas,
  roundHalfToEven,
  spacedTimesteps,
  UnsupportedBetaScheduleError,
  UnsupportedTimestepSpacingError,
} from '../../src/diffusion/schedules.js';

/** Stable Diffusion 1.5's scheduler/scheduler_config.json (PNDMScheduler), the fields that matter here. */
const SD15_CONFIG = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', steps_offset: 1 };

function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (±${tolerance})`);
}

function assertDescendingToZero(sigmas: number[], steps: number): void {
  assert.equal(sigmas.length, steps + 1);
  assert.equal(sigmas[steps], 0);
  for (let i = 1; i < sigmas.length; i++) assert.ok(sigmas[i]! < sigmas[i - 1]!, `not descending at ${i}: ${sigmas.join(', ')}`);
}

describe('the discrete VP schedule', () => {
  const sd15 = createDiscreteSchedule(SD15_CONFIG);

  it('matches SD 1.5’s known noise range (σ_max ≈ 14.6146, σ_min ≈ 0.0292, ᾱ_999 ≈ 0.00466)', () => {
    assertClose(sd15.sigmaMax, 14.6146, 1e-4, 'sigma_max');
    assertClose(sd15.sigmaMin, 0.0292, 1e-4, 'sigma_min');
    assertClose(sd15.alphasCumprod[999]!, 0.00466, 1e-5, 'alphas_cumprod[999]');
    assertClose(sd15.alphasCumprod[0]!, 1 - 0.00085, 1e-12, 'alphas_cumprod[0] = 1 − beta_start');
    // σ at t = 500, from numpy with the same float64 recipe.
    assertClose(sd15.sigmas[500]!, 1.6182788260186167, 1e-9, 'sigma[500]');
  });

  it('uses the SD defaults when the config says nothing', () => {
    const defaults = discreteSchedule({});
    assert.equal(defaults.numTrainTimesteps, 1000);
    assert.equal(defaults.sigmaMax, sd15.sigmaMax);
    assert.equal(defaults.sigmaMin, sd15.sigmaMin);
  });

  it('computes betas from the closed forms (scaled_linear, linear) and rejects unknown schedules', () => {
    const betaAt = (i: number) => (Math.sqrt(0.00085) + (i / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2;
    for (const i of [0, 1, 400, 999]) assertClose(sd15.betas[i]!, betaAt(i), 1e-15, `scaled_linear beta[${i}]`);
    const linear = createDiscreteSchedule({ beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 });
    assertClose(linear.betas[999]!, 0.02, 1e-15, 'linear beta_end');
    assertClose(linear.sigmaMax, 157.40728081040757, 1e-6, 'DDPM linear schedule sigma_max (numpy)');
    const cosine = createDiscreteSchedule({ beta_schedule: 'squaredcos_cap_v2' });
    assert.ok(cosine.betas.every((b) => b > 0 && b <= 0.999));
    assert.throws(() => createDiscreteSchedule({ beta_schedule: 'sigmoid' }), UnsupportedBetaScheduleError);
  });

  it('maps σ to a continuous timestep by log-σ interpolation (k-diffusion sigma_to_t) and back', () => {
    for (let t = 0; t < 1000; t += 37) assert.equal(sd15.sigmaToTimestep(sd15.sigmas[t]!), t);
    assert.equal(sd15.sigmaToTimestep(sd15.sigmaMax), 999);
    // Halfway in log σ between two neighbours is t + 0.5.
    const between = Math.exp(0.5 * (sd15.logSigmas[353]! + sd15.logSigmas[354]!));
    assertClose(sd15.sigmaToTimestep(between), 353.5, 1e-9, 'midpoint timestep');
    assertClose(sd15.timestepToSigma(353.5), 0.9986998505531783, 1e-12, 'sigma(353.5) from numpy');
    for (const t of [0, 0.25, 12.5, 353.7, 998.99, 999]) assertClose(sd15.sigmaToTimestep(sd15.timestepToSigma(t)), t, 1e-9, `round trip t=${t}`);
    for (const sigma of [0.0292, 0.1, 1, 7.3, 14.6]) assertClose(sd15.timestepToSigma(sd15.sigmaToTimestep(sigma)), sigma, 1e-12 * sigma + 1e-15, `round trip σ=${sigma}`);
  });

  it('clamps outside the trained range as k-diffusion does', () => {
    assert.equal(sd15.sigmaToTimestep(0.001), 0);
    assert.equal(sd15.sigmaToTimestep(0), 0);
    assert.equal(sd15.sigmaToTimestep(100), 999);
    assert.equal(sd15.timestepToSigma(-5), sd15.sigmaMin);
    assert.equal(sd15.timestepToSigma(1200), sd15.sigmaMax);
  });
});

describe('step sigma lists', () => {
  const sd15 = createDiscreteSchedule(SD15_CONFIG);

  it('Karras et al. 2022 eq. 5: matches the closed form, numpy, and starts/ends at SD’s σ_max/σ_min', () => {
    const steps = 10;
    const sigmas = karrasSigmas(steps, sd15.sigmaMin, sd15.sigmaMax);
    assertDescendingToZero(sigmas, steps);
    // Closed form, written out independently: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.
    for (let i = 0; i < steps; i++) {
      const expected = Math.pow(Math.pow(sd15.sigmaMax, 1 / 7) * (1 - i / 9) + Math.pow(sd15.sigmaMin, 1 / 7) * (i / 9), 7);
      assertClose(sigmas[i]!, expected, 1e-12 * expected, `karras[${i}]`);
    }
    // Known numbers (numpy, SD 1.5): 14.6146 … 0.0292, then 0.
    const golden = [14.6146, 9.1029, 5.4784, 3.1686, 1.7494, 0.9141, 0.4469, 0.2014, 0.0819, 0.0292, 0];
    golden.forEach((value, i) => assertClose(sigmas[i]!, value, 5e-5, `karras golden[${i}]`));
    // (x^{1/7})^7 is x up to rounding.
    assertClose(sigmas[0]!, sd15.sigmaMax, 1e-13, 'first = sigma_max');
    assertClose(sigmas[steps - 1]!, sd15.sigmaMin, 1e-15, 'last nonzero = sigma_min');
    assert.equal(karrasSigmas(1, 0.03, 14).length, 2);
  });

  it('exponential: evenly spaced in log σ', () => {
    const sigmas = exponentialSigmas(5, 0.1, 10);
    assertDescendingToZero(sigmas, 5);
    [10, Math.sqrt(10), 1, Math.sqrt(0.1), 0.1].forEach((v, i) => assertClose(sigmas[i]!, v, 1e-12, `exponential[${i}]`));
  });

  it('DDIM timesteps for 50 steps, offset 1 (diffusers DDIMScheduler, leading)', () => {
    const expected = [
      981, 961, 941, 921, 901, 881, 861, 841, 821, 801, 781, 761, 741, 721, 701, 681, 661, 641, 621, 601, 581, 561, 541, 521, 501,
      481, 461, 441, 421, 401, 381, 361, 341, 321, 301, 281, 261, 241, 221, 201, 181, 161, 141, 121, 101, 81, 61, 41, 21, 1,
    ];
    assert.deepEqual(ddimTimesteps(50, 1000, 1), expected);
    const sigmas = ddimSigmas(50, sd15, SD15_CONFIG);
    assertDescendingToZero(sigmas, 50);
    expected.forEach((t, i) => assert.equal(sigmas[i], sd15.sigmas[t]));
    // CompVis/A1111 DDIM adds 1 even when the config has no steps_offset.
    assert.equal(ddimSigmas(50, sd15, {})[49], sd15.sigmas[1]);
  });

  it('diffusers timestep spacings: leading with steps_offset, trailing (numpy rounding), linspace', () => {
    assert.deepEqual(spacedTimesteps(10, 1000, 'leading', 1), [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    assert.deepEqual(spacedTimesteps(10, 1000, 'trailing'), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    // 1000/16 = 62.5: the halves 937.5, 812.5, … round to even like numpy (937.5 → 938, 812.5 → 812).
    assert.deepEqual(spacedTimesteps(16, 1000, 'trailing'), [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
    assert.deepEqual(spacedTimesteps(10, 1000, 'linspace'), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    assert.deepEqual(spacedTimesteps(1, 1000, 'linspace'), [999]);
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(roundHalfToEven), [0, 2, 2, 0, 2, 3]);
  });

  it('the model’s own sigmas follow the config’s spacing, linspace (k-diffusion get_sigmas) by default', () => {
    const linspace = modelSigmas(10, sd15, {});
    assertDescendingToZero(linspace, 10);
    assert.equal(linspace[0], sd15.sigmaMax);
    assert.equal(linspace[9], sd15.sigmaMin);
    assert.equal(linspace[1], sd15.sigmas[888]);
    const leading = modelSigmas(10, sd15, { ...SD15_CONFIG, timestep_spacing: 'leading' });
    assert.deepEqual(leading.slice(0, 10), [901, 801, 701, 601, 501, 401, 301, 201, 101, 1].map((t) => sd15.sigmas[t]));
    const trailing = modelSigmas(4, sd15, { timestep_spacing: 'trailing' });
    assert.deepEqual(trailing, [999, 749, 499, 249].map((t) => sd15.sigmas[t]).concat(0));
    const fractional = modelSigmas(7, sd15, {});
    assertClose(fractional[1]!, sd15.timestepToSigma(999 - 999 / 6), 1e-15, 'fractional timestep via log-σ interpolation');
    assert.throws(() => modelSigmas(10, sd15, { timestep_spacing: 'karras' }), UnsupportedTimestepSpacingError);
    assert.throws(() => modelSigmas(0, sd15, {}), RangeError);
  });

  it('LCM: evenly spaced over the 50-step distillation grid 19, 39, …, 999 (A1111 LCMCompVisDenoiser)', () => {
    const fifty = lcmSigmas(50, sd15);
    assertDescendingToZero(fifty, 50);
    for (let i = 0; i < 50; i++) assertClose(fifty[i]!, sd15.sigmas[999 - 20 * i]!, 1e-12, `lcm[${i}]`);
    const four = lcmSigmas(4, sd15);
    assertDescendingToZero(four, 4);
    assert.equal(four[0], sd15.sigmaMax);
    assertClose(four[3]!, sd15.sigmas[19]!, 1e-15, 'last LCM sigma at t = 19');
    // Grid index 49 − 49/3 = 32.67 lies between grid points 32 (t = 659) and 33 (t = 679), interpolated in log σ.
    const index = 49 - 49 / 3;
    const weight = index - 32;
    assertClose(four[1]!, Math.exp((1 - weight) * sd15.logSigmas[659]! + weight * sd15.logSigmas[679]!), 1e-12, 'lcm[1]');
  });
});
