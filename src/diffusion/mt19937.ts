/**
 * MT19937 (Matsumoto & Nishimura 1998), the 32-bit Mersenne Twister, seeded as C++'s
 * std::mt19937 and torch's CPU generator seed it: the seed's low 32 bits start the state and the
 * published 1812433253 recurrence fills the rest. So `torch.manual_seed(s)` and `new Mt19937(s)`
 * give the same words for every s (torch, too, keeps only s mod 2^32).
 */
const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /** Any safe integer or bigint; only its low 32 bits count, as in torch. */
  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) throw new RangeError(`MT19937 seed must be a safe integer or a bigint, got ${seed}`);
    const state = this.state;
    state[0] = Number(BigInt.asUintN(32, BigInt(seed)));
    for (let i = 1; i < N; i++) {
      const previous = state[i - 1]!;
      state[i] = Math.imul(1812433253, previous ^ (previous >>> 30)) + i;
    }
  }

  /** The next 32-bit output, as an unsigned number. */
  next(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const state = this.state;
    for (let i = 0; i < N; i++) {
      const y = (state[i]! & UPPER_MASK) | (state[(i + 1) % N]! & LOWER_MASK);
      state[i] = state[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}
