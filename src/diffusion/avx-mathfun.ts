/**
 * float32 log and sin/cos exactly as torch's AVX2 normal kernel computes them. torch fills float
 * tensors of 16 or more numbers with `normal_fill_16_AVX2`, which takes log256_ps and sincos256_ps
 * from avx_mathfun.h (Pommier's Cephes-derived polynomials, ported to AVX). Those are plain
 * float32 arithmetic, so JavaScript reproduces them with Math.fround after every operation, with
 * one twist: torch's AVX2 kernels are compiled with FMA enabled and GCC's default
 * -ffp-contract=fast, so a multiply whose only use is an add becomes one fused multiply-add
 * (rounded once). Which pairs fuse was read off GCC's rule (the first such multiply in statement
 * order) and confirmed bit for bit against torch 1.13 (test/unit/torch-noise.test.ts); without the
 * fusion about 1% of the numbers differ in their last bit.
 *
 * Only the inputs torch's kernel gives are supported: log of (0, 1], sin/cos of [0, 2π).
 */
const f = Math.fround;

const SQRT_HALF = f(0.707106781186547524);
const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f);
const LOG_Q1 = f(-2.1219444e-4);
const LOG_Q2 = f(0.693359375);
const FOUR_OVER_PI = f(1.27323954473516);
const MINUS_DP1 = f(-0.78515625);
const MINUS_DP2 = f(-2.4187564849853515625e-4);
const MINUS_DP3 = f(-3.77489497744594108e-8);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);

const bitsView = new Float32Array(1);
const intView = new Int32Array(bitsView.buffer);

function floatBits(x: number): number {
  bitsView[0] = x;
  return intView[0]!;
}

function fromBits(bits: number): number {
  intView[0] = bits;
  return bitsView[0]!;
}

/**
 * a·b + c rounded once to float32 (a, b, c float32), as the FMA instruction does. a·b is exact in
 * a double; the double sum is then rounded again to float32, which is wrong only when that sum
 * lands exactly halfway between two floats while the true sum does not, so that case is settled
 * from the sum's exact error (Knuth's two-sum).
 */
export function fma32(a: number, b: number, c: number): number {
  const product = a * b;
  const sum = product + c;
  const rounded = f(sum);
  if (sum === rounded) return rounded;
  const virtual = sum - product;
  const error = product - (sum - virtual) + (c - virtual);
  if (error === 0) return rounded;
  const bits = floatBits(rounded);
  // The float on the other side of `sum` from `rounded` (a step in the bits away from or towards zero).
  const awayFromZero = sum > rounded === rounded > 0;
  const neighbour = rounded === 0 ? fromBits(sum > 0 ? 1 : 0x80000001 | 0) : fromBits(awayFromZero ? bits + 1 : bits - 1);
  if ((rounded + neighbour) / 2 !== sum) return rounded;
  return error > 0 ? Math.max(rounded, neighbour) : Math.min(rounded, neighbour);
}

/** log256_ps for one lane, x in (0, 1]. */
export function logAvx(x: number): number {
  const bits = floatBits(Math.max(x, 2 ** -126));
  let e = f((bits >>> 23) - 127 + 1);
  let m = fromBits((bits & ~0x7f800000) | 0x3f000000); // the mantissa, scaled into [0.5, 1)
  const below = m < SQRT_HALF;
  const tmp = below ? m : 0;
  m = f(m - 1);
  e = f(e - (below ? 1 : 0));
  m = f(m + tmp);
  const z = f(m * m);
  let y = LOG_P[0]!;
  for (let k = 1; k < LOG_P.length; k++) y = fma32(y, m, LOG_P[k]!);
  y = f(y * m);
  y = fma32(y, z, f(e * LOG_Q1));
  y = fma32(-z, 0.5, y);
  return fma32(e, LOG_Q2, f(m + y));
}

/** sincos256_ps for one lane, x in [0, 2π): [sin x, cos x]. */
export function sinCosAvx(x: number): [sin: number, cos: number] {
  const j = (Math.trunc(f(x * FOUR_OVER_PI)) + 1) & ~1;
  const swapSinSign = (j & 4) !== 0;
  const sinFromSinPolynomial = (j & 2) === 0;
  const cosNegative = (~(j - 2) & 4) !== 0;
  // Cody-Waite reduction: x - j·π/4 in three parts.
  x = fma32(j, MINUS_DP1, x);
  x = fma32(j, MINUS_DP2, x);
  x = fma32(j, MINUS_DP3, x);
  const z = f(x * x);
  let c = fma32(COS_P[0]!, z, COS_P[1]!);
  c = fma32(c, z, COS_P[2]!);
  c = f(c * z);
  c = fma32(c, z, -f(z * 0.5));
  c = f(c + 1);
  let s = fma32(SIN_P[0]!, z, SIN_P[1]!);
  s = fma32(s, z, SIN_P[2]!);
  s = f(s * z);
  s = fma32(s, x, x);
  // The kernel blends the two polynomials with masks and adds, which turns -0 into +0.
  let sin = sinFromSinPolynomial ? s + 0 : c + 0;
  let cos = sinFromSinPolynomial ? c + 0 : s + 0;
  if (swapSinSign) sin = -sin;
  if (cosNegative) cos = -cos;
  return [sin, cos];
}
