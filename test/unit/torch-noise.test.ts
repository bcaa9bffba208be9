import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';

import { fma32 } from '../../src/diffusion/avx-mathfun.js';
import { Mt19937 } from '../../src/diffusion/mt19937.js';
import { createTorchCpuNoise } from '../../src/diffusion/torch-noise.js';

const SEEDS = [0, 1, 42, 2 ** 32 - 1, 2 ** 40 + 7];
/** Both sides of torch's 16-number switch, blocks with and without a recomputed tail, and SD latents. */
const SIZES = [1, 3, 15, 16, 17, 100, 4 * 8 * 8, 4 * 64 * 64];
/** Successive calls on one generator: the scalar path's spare value, and streams that go on. */
const SEQUENCES = [
  [3, 1, 2],
  [3, 16, 1],
  [17, 17],
  [4 * 64 * 64, 4 * 64 * 64],
];

interface Case {
  seed: number;
  sizes: number[];
}

const CASES: Case[] = SEEDS.flatMap((seed) => [...SIZES.map((n) => ({ seed, sizes: [n] })), ...SEQUENCES.map((sizes) => ({ seed, sizes }))]);

// One Python process answers every case, each `torch.randn(n)` call's float32 bytes in base64.
const TORCH_SCRIPT = `
import base64, json, sys, torch
out = []
for case in json.load(sys.stdin):
    torch.manual_seed(case['seed'])
    out.append([base64.b64encode(torch.randn(n).numpy().tobytes()).decode() for n in case['sizes']])
print(json.dumps(out))
`;

function float32Bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

describe('torch-cpu noise against torch 1.13 on this CPU (AVX2 kernels)', () => {
  let torchCalls: string[][];
  before(() => {
    // Named explicitly, so the reference is torch's AVX2 kernel even where a CPU would pick another.
    const stdout = execFileSync('/usr/bin/python3', ['-c', TORCH_SCRIPT], { input: JSON.stringify(CASES), env: { ...process.env, ATEN_CPU_CAPABILITY: 'avx2' }, maxBuffer: 64 << 20 });
    torchCalls = JSON.parse(stdout.toString()) as string[][];
  });

  it('gives torch.randn bit for bit for every seed, size and sequence of calls', () => {
    CASES.forEach((testCase, index) => {
      const noise = createTorchCpuNoise(testCase.seed);
      testCase.sizes.forEach((n, call) => {
        const bytes = Buffer.from(torchCalls[index]![call]!, 'base64');
        const expected = new Uint32Array(new Uint8Array(bytes).buffer);
        const actual = float32Bits(noise.randn(n));
        const where = `seed ${testCase.seed}, calls [${testCase.sizes.join(', ')}], call ${call}`;
        assert.equal(actual.length, expected.length, where);
        const first = actual.findIndex((bits, i) => bits !== expected[i]);
        assert.equal(first, -1, `${where}: first difference at ${first}`);
      });
    });
  });
});

describe('torch-cpu noise, by itself', () => {
  it('starts from the classic torch.manual_seed(42) numbers', () => {
    assert.deepEqual(Array.from(createTorchCpuNoise(42).randn(16).subarray(0, 4)), [1.9269152879714966, 1.4872840642929077, 0.9007171988487244, -2.1055209636688232]);
  });

  it('keeps only the low 32 bits of a seed, as torch does', () => {
    assert.deepEqual(createTorchCpuNoise(2 ** 40 + 7).randn(40), createTorchCpuNoise(7).randn(40));
  });

  it('matches std::mt19937: the 10000th output for the default seed 5489 is 4123659995', () => {
    const words = new Mt19937(5489);
    for (let i = 0; i < 9999; i++) words.next();
    assert.equal(words.next(), 4123659995);
  });

  it('rejects counts and seeds torch would not take', () => {
    assert.throws(() => createTorchCpuNoise(1).randn(-1), RangeError);
    assert.throws(() => createTorchCpuNoise(1).randn(2.5), RangeError);
    assert.throws(() => createTorchCpuNoise(2 ** 60), RangeError);
    assert.equal(createTorchCpuNoise(1).randn(0).length, 0);
  });
});

describe('fma32', () => {
  it('rounds once where the double sum lands on a float32 midpoint', () => {
    // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24, halfway between two floats; + 2^-80 tips it upwards,
    // which a double sum loses (it rounds back to the midpoint, then to the even float below).
    const a = Math.fround(1 + 2 ** -12);
    assert.equal(Math.fround(a * a + 2 ** -80), Math.fround(1 + 2 ** -11));
    assert.equal(fma32(a, a, 2 ** -80), Math.fround(1 + 2 ** -11 + 2 ** -23));
    assert.equal(fma32(a, a, -(2 ** -80)), Math.fround(1 + 2 ** -11));
    assert.equal(fma32(-a, a, -(2 ** -80)), -Math.fround(1 + 2 ** -11 + 2 ** -23));
    assert.equal(fma32(2, 3, 1), 7);
  });
});
