/**
 * Seeded Gaussian noise for the samplers: the same seed gives bit-identical numbers on every
 * platform, so a (seed, prompt, settings) triple reproduces an image.
 *
 * Uniform bits come from xoshiro128** (Blackman & Vigna 2018), a 128-bit-state generator that
 * needs only 32-bit integer arithmetic (Math.imul, shifts), so the hot loop never touches BigInt.
 * Its state is seeded by splitmix64 (Steele et al. 2014), the seeding the xoshiro authors
 * recommend, run with BigInt once per createNoise call: it spreads any 64-bit seed (0 and 1
 * included) over the whole state. Normals come from the Marsaglia polar method, which needs only
 * Math.log and Math.sqrt: sqrt is correctly rounded by IEEE 754 and V8's Math.log is a port of
 * fdlibm, so results do not depend on the CPU or the C library.
 */
import type { NoiseSource } from './types.js';

const UINT64_MASK = (1n << 64n) - 1n;
const TWO_POW_MINUS_31 = 2 ** -31;

/** splitmix64's output function, from its published constants. */
function splitMix64(state: bigint): { state: bigint; output: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & UINT64_MASK;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & UINT64_MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & UINT64_MASK;
  return { state: next, output: z ^ (z >> 31n) };
}

/** Accepts any safe integer or bigint; negatives wrap to their 64-bit two's complement. */
function seedToUint64(seed: number | bigint): bigint {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`noise seed must be a safe integer or a bigint, got ${seed}`);
  }
  return BigInt.asUintN(64, BigInt(seed));
}

/** xoshiro128**: advances the four 32-bit state words in place and returns one unsigned 32-bit output. */
function xoshiro128StarStar(state: Int32Array): number {
  const s0 = state[0]!;
  const s1 = state[1]!;
  const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
  const s2 = state[2]! ^ s0;
  const s3 = state[3]! ^ s1;
  state[1] = s1 ^ s2;
  state[0] = s0 ^ s3;
  state[2] = s2 ^ (s1 << 9);
  state[3] = rotl(s3, 11);
  return result;
}

class SeededNormalNoise implements NoiseSource {
  private readonly state = new Int32Array(4);
  /** The polar method makes normals in pairs; the second waits here, so calls split anywhere give one stream. */
  private spare = Number.NaN;

  constructor(seed: bigint) {
    let mixer = splitMix64(seed);
    const first = mixer.output;
    mixer = splitMix64(mixer.state);
    const second = mixer.output;
    this.state[0] = Number(first & 0xffffffffn);
    this.state[1] = Number(first >> 32n);
    this.state[2] = Number(second & 0xffffffffn);
    this.state[3] = Number(second >> 32n);
    // xoshiro must not start from the all-zero state (it would stay there); splitmix64 makes this
    // practically impossible, but one fixed nonzero word keeps the guarantee unconditional.
    if (this.state.every((word) => word === 0)) this.state[0] = 1;
  }

  randn(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`randn needs a non-negative integer count, got ${n}`);
    const out = new Float32Array(n);
    const state = this.state;
    let i = 0;
    if (n > 0 && !Number.isNaN(this.spare)) {
      out[i++] = this.spare;
      this.spare = Number.NaN;
    }
    while (i < n) {
      // Marsaglia & Bray 1964: a uniform point in the unit disc gives two independent N(0, 1).
      let u: number;
      let v: number;
      let s: number;
      do {
        u = xoshiro128StarStar(state) * TWO_POW_MINUS_31 - 1;
        v = xoshiro128StarStar(state) * TWO_POW_MINUS_31 - 1;
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const factor = Math.sqrt((-2 * Math.log(s)) / s);
      out[i++] = u * factor;
      if (i < n) out[i++] = v * factor;
      else this.spare = v * factor;
    }
    return out;
  }
}

function rotl(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** A NoiseSource whose stream depends only on the seed (a safe integer or any bigint, taken mod 2^64). */
export function createNoise(seed: number | bigint): NoiseSource {
  return new SeededNormalNoise(seedToUint64(seed));
}
