/**
 * Noise that is, bit for bit, what `torch.manual_seed(seed); torch.randn(n)` gives on the CPU in
 * float32, so a seed from an A1111 "RNG: CPU" or Draw Things "Torch CPU compatible" picture gives
 * the same starting latents here. Successive randn(n) calls continue one stream, as successive
 * torch.randn calls on torch's global generator do (ancestral samplers draw noise at every step).
 *
 * torch draws 32-bit words from MT19937 and shapes them in one of two ways, chosen by the size
 * of each call:
 * - n ≥ 16 (`normal_fill_AVX2`): n float uniforms (24 bits of a word each, u = k/2^24), then
 *   Box-Muller over blocks of 16 — lanes j and j+8 share the pair (1-u[j], u[j+8]) — in float32
 *   with the AVX2 log/sin/cos of avx-mathfun.ts. When 16 does not divide n, 16 fresh uniforms
 *   overwrite the last 16 places and that block is transformed again.
 * - n < 16 (the scalar path): one double normal per number, from two 53-bit uniforms (two words
 *   each, first word high) by Box-Muller in doubles, rounded to float32 at the end. Each pair
 *   gives cos and sin; the sin half waits in the generator for the next small-path number, even
 *   across calls (a call of 16 or more leaves it waiting).
 *
 * The AVX2 path is what torch runs on any x86-64 CPU with AVX2 and FMA, which is every desktop and
 * server CPU since 2013 (torch's plain-C fallback, forced by ATEN_CPU_CAPABILITY=default, differs
 * in the last bit of a few numbers in a hundred). The scalar path's doubles go through V8's fdlibm
 * sin/cos/log where torch uses glibc's; both are within an ulp of a double, far below float32's
 * rounding, so the float32 results agree.
 */
import { sinCosAvx, logAvx } from './avx-mathfun.js';
import { Mt19937 } from './mt19937.js';
import type { NoiseSource } from './types.js';

const f = Math.fround;
/** `2.0f * c10::pi<double>` stored in a float32 register. */
const TWO_PI_FLOAT = f(2 * Math.PI);
const VECTOR_BLOCK = 16;

class TorchCpuNoise implements NoiseSource {
  private readonly words: Mt19937;
  /** The scalar path's spare normal (torch's next_double_normal_sample), or null. */
  private spare: number | null = null;

  constructor(seed: number) {
    this.words = new Mt19937(seed);
  }

  randn(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`randn needs a non-negative integer count, got ${n}`);
    return n >= VECTOR_BLOCK ? this.vectorPath(n) : this.scalarPath(n);
  }

  private vectorPath(n: number): Float32Array {
    const out = new Float32Array(n);
    this.fillUniform(out, 0, n);
    for (let start = 0; start + VECTOR_BLOCK <= n; start += VECTOR_BLOCK) boxMuller16(out, start);
    if (n % VECTOR_BLOCK !== 0) {
      this.fillUniform(out, n - VECTOR_BLOCK, n);
      boxMuller16(out, n - VECTOR_BLOCK);
    }
    return out;
  }

  /** torch's uniform_real_distribution<float>: the low 24 bits of one word, over 2^24. */
  private fillUniform(out: Float32Array, from: number, to: number): void {
    for (let i = from; i < to; i++) out[i] = (this.words.next() & 0xffffff) * 2 ** -24;
  }

  private scalarPath(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normalDouble();
    return out;
  }

  /** torch's normal_distribution<double>, with its cached second value. */
  private normalDouble(): number {
    if (this.spare !== null) {
      const spare = this.spare;
      this.spare = null;
      return spare;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const radius = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.spare = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }

  /** torch's uniform_real_distribution<double>: 53 bits of two words (first word high), over 2^53. */
  private uniformDouble(): number {
    const high = this.words.next() & 0x1fffff;
    const low = this.words.next();
    return (high * 2 ** 32 + low) * 2 ** -53;
  }
}

/** normal_fill_16_AVX2 on out[start, start + 16): uniforms in, standard normals out. */
function boxMuller16(out: Float32Array, start: number): void {
  for (let j = start; j < start + VECTOR_BLOCK / 2; j++) {
    const radius = f(Math.sqrt(-2 * logAvx(f(1 - out[j]!))));
    const [sin, cos] = sinCosAvx(f(TWO_PI_FLOAT * out[j + VECTOR_BLOCK / 2]!));
    // torch ends with fma(n, std = 1, mean = 0): exact, apart from turning -0 into +0.
    out[j] = f(radius * cos) + 0;
    out[j + VECTOR_BLOCK / 2] = f(radius * sin) + 0;
  }
}

/** A NoiseSource that continues torch's CPU generator after `torch.manual_seed(seed)`. */
export function createTorchCpuNoise(seed: number): NoiseSource {
  return new TorchCpuNoise(seed);
}
