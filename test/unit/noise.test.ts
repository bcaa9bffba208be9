import assert from 'node:assert/strict';
import { it } from 'node:test';

import { createNoise } from '../../src/diffusion/noise.js';

it('gives the same numbers for the same seed, and pins the stream (golden values from an independent Python port)', () => {
  assert.deepEqual(createNoise(42).randn(1000), createNoise(42).randn(1000));
  // splitmix64 → xoshiro128** → Marsaglia polar, re-implemented in Python with arbitrary-precision
  // integers; these are its first float32 outputs. A change here changes every seed's image.
  const golden = [-0.07727615535259247, 0.4206727147102356, -0.13860179483890533, 0.011047924868762493, 1.720743179321289, 1.0868595838546753];
  assert.deepEqual(Array.from(createNoise(42).randn(6)), golden);
  assert.deepEqual(Array.from(createNoise(0).randn(3)), [0.9910207986831665, 0.27219316363334656, 0.7334588766098022]);
});

it('accepts number and bigint seeds alike, wraps negatives to 64 bits, and rejects unsafe numbers', () => {
  assert.deepEqual(createNoise(123456789).randn(64), createNoise(123456789n).randn(64));
  assert.deepEqual(createNoise(-1).randn(8), createNoise(2n ** 64n - 1n).randn(8));
  assert.throws(() => createNoise(1.5), RangeError);
  assert.throws(() => createNoise(2 ** 60), RangeError);
  assert.throws(() => createNoise(1).randn(-1), RangeError);
});

it('gives different streams for different seeds, including seeds that differ only above bit 32', () => {
  const reference = createNoise(1).randn(256);
  for (const seed of [0, 2, 1n + (1n << 32n), 1n + (1n << 63n)]) {
    const other = createNoise(seed).randn(256);
    const equal = reference.filter((value, i) => value === other[i]).length;
    assert.ok(equal < 3, `seed ${seed} shares ${equal} of 256 values with seed 1`);
  }
});

it('is one stream however the calls are split (odd counts keep the spare normal)', () => {
  const whole = createNoise(7).randn(11);
  const source = createNoise(7);
  const pieces = [source.randn(3), source.randn(0), source.randn(1), source.randn(7)];
  assert.deepEqual(Float32Array.from(pieces.flatMap((p) => Array.from(p))), whole);
});

it('is standard normal over 1e5 samples: mean, variance, kurtosis, and the one-sigma mass', () => {
  const n = 100_000;
  const x = createNoise(2024).randn(n);
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / n;
  let m2 = 0;
  let m4 = 0;
  let withinOne = 0;
  for (const v of x) {
    const d = v - mean;
    m2 += d * d;
    m4 += d * d * d * d;
    if (Math.abs(v) < 1) withinOne++;
  }
  const variance = m2 / (n - 1);
  const kurtosis = m4 / n / (variance * variance);
  // Five standard errors each: SE(mean) = 1/√n ≈ 0.0032, SE(var) = √(2/n) ≈ 0.0045,
  // SE(kurtosis) = √(24/n) ≈ 0.0155, SE(P(|z|<1)) = √(p(1−p)/n) ≈ 0.0015 with p = 0.6827.
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
  assert.ok(Math.abs(kurtosis - 3) < 5 * Math.sqrt(24 / n), `kurtosis ${kurtosis}`);
  assert.ok(Math.abs(withinOne / n - 0.6827) < 5 * Math.sqrt((0.6827 * 0.3173) / n), `P(|z|<1) ${withinOne / n}`);
  // Neighbouring values are uncorrelated (lag-1 autocorrelation, SE 1/√n).
  let lag = 0;
  for (let i = 1; i < n; i++) lag += (x[i]! - mean) * (x[i - 1]! - mean);
  assert.ok(Math.abs(lag / m2) < 5 / Math.sqrt(n), `lag-1 correlation ${lag / m2}`);
});
