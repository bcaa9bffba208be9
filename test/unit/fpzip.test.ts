import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { fromHalfBits, toHalfBits } from '../../src/diffusion/float16.js';
import { CCV_CODEC, CCV_DATATYPE, CCV_FORMAT, CCV_HEADER_BYTES, decodeTensor, TensorFormatError } from '../../src/server/draw-things/ccv-tensor.js';
import { fpzipDecode } from '../../src/server/draw-things/fpzip.js';

// The oracle is Debian's fpzip tool (fpzip-utils, fpzip 1.3): what it compresses the decoder must
// read, and what it decompresses the decoder must reproduce bit for bit.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fpzip-test-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function fpzipCli(args: string[]): void {
  const run = spawnSync('fpzip', ['-q', ...args], { encoding: 'utf8', timeout: 10_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail('the fpzip command is missing; these tests compare against it: install fpzip-utils (apt-get install fpzip-utils)');
  }
  assert.equal(run.status, 0, `fpzip ${args.join(' ')} failed: ${run.error?.message ?? run.stderr}`);
}

/** `values` as a[nf][nz][ny][nx], compressed by the tool at `prec` bits, and the tool's own decompression of that. */
function oracle(values: Float32Array, [nx, ny, nz, nf]: number[], prec: number): { stream: Buffer; expected: Uint32Array } {
  const raw = path.join(work, 'in.raw');
  const coded = path.join(work, 'in.fpz');
  const back = path.join(work, 'back.raw');
  fs.writeFileSync(raw, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  const dims = ['-4', String(nx), String(ny), String(nz), String(nf)];
  fpzipCli(['-p', String(prec), ...dims, '-i', raw, '-o', coded]);
  fpzipCli(['-d', ...dims, '-i', coded, '-o', back]);
  const decompressed = fs.readFileSync(back);
  const expected = new Uint32Array(decompressed.length / 4);
  Buffer.from(expected.buffer).set(decompressed);
  return { stream: fs.readFileSync(coded), expected };
}

/** A deterministic stand-in for a picture, NHWC [1, h, w, 3] in [−1, 1]: gradients, a soft blob and some noise. */
function picture(height: number, width: number, seed: number): Float32Array {
  const out = new Float32Array(height * width * 3);
  let state = seed >>> 0;
  const noise = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const blob = Math.exp(-((x - width / 3) ** 2 + (y - height / 2) ** 2) / (width * height * 0.05));
      for (let c = 0; c < 3; c++) {
        const v = (x / width) * (c - 1) + (y / height) * 0.8 - 0.4 + blob * 0.6 + noise() * 0.08;
        out[(y * width + x) * 3 + c] = Math.max(-1, Math.min(1, v));
      }
    }
  }
  return out;
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

describe('fpzip decoding, against the fpzip tool', () => {
  for (const [height, width] of [[64, 64], [37, 53]] as const) {
    for (const prec of [19, 32]) {
      it(`a picture [1, ${height}, ${width}, 3] at ${prec} bits decodes to the tool's own values, bit for bit`, () => {
        const dims = [3, width, height, 1]; // nx = channels, ny = width, nz = height, nf = batch, as the app maps NHWC
        const { stream, expected } = oracle(picture(height, width, height * 1000 + prec), dims, prec);
        const decoded = fpzipDecode(stream, expected.length);
        assert.deepEqual([decoded.nx, decoded.ny, decoded.nz, decoded.nf, decoded.type, decoded.prec], [...dims, 'float', prec]);
        assert.deepEqual(bitsOf(decoded.values), expected);
      });
    }
  }

  it('a constant array, extreme values (±max, subnormals, ±0, ±∞, NaN) and several fields decode bit for bit at 32, 19 and 3 bits', () => {
    const constant = new Float32Array(10 * 10 * 10).fill(0.25);
    const extremes = [3.4028234663852886e38, -3.4028234663852886e38, 2 ** -149, -(2 ** -149), -0, 0, Infinity, -Infinity, NaN, 1e38, -1e-38, 2 ** -126, 65504, -1];
    const wild = Float32Array.from({ length: 5 * 7 * 6 * 2 }, (_, i) => extremes[(i * 7 + (i >> 3)) % extremes.length]!);
    for (const prec of [32, 19, 3]) {
      for (const [values, dims] of [[constant, [10, 10, 10, 1]], [wild, [5, 7, 6, 2]]] as const) {
        const { stream, expected } = oracle(values, [...dims], prec);
        assert.deepEqual(bitsOf(fpzipDecode(stream, values.length).values), expected, `${dims.join('×')} at ${prec} bits`);
      }
    }
  });

  it('refuses truncated streams, streams over maxValues and streams that are not fpzip, without hanging', () => {
    const values = picture(16, 16, 7);
    const { stream } = oracle(values, [3, 16, 16, 1], 19);
    for (const length of [0, 3, 10, 30, stream.length >> 1, stream.length - 1]) {
      assert.throws(() => fpzipDecode(stream.subarray(0, length), values.length), /truncated|corrupt|magic/, `${length} of ${stream.length} bytes`);
    }
    assert.throws(() => fpzipDecode(stream, values.length - 1), /holds 3×16×16×1 values; at most 767 are accepted/);
    assert.throws(() => fpzipDecode(Buffer.from('not an fpzip stream at all'), 100), /not an fpzip stream/);
  });
});

/** The app's 68-byte tensor header for an fpzip-coded NHWC tensor. */
function ccvHeader(datatype: number, dims: number[]): Buffer {
  const out = Buffer.alloc(CCV_HEADER_BYTES);
  out.writeUInt32LE(CCV_CODEC.fpzip, 0);
  out.writeUInt32LE(1, 4);
  out.writeUInt32LE(CCV_FORMAT.nhwc, 8);
  out.writeUInt32LE(datatype, 12);
  dims.forEach((d, i) => out.writeInt32LE(d, 20 + 4 * i));
  return out;
}

describe('fpzip-coded CCV tensors (how the app sends images)', () => {
  it('a 16F image, coded as float32 at 19 bits, decodes to the half bits of the tool\'s values, which are the original halves', () => {
    const [height, width] = [24, 40];
    const halves = toHalfBits(picture(height, width, 99));
    const { stream, expected } = oracle(fromHalfBits(halves), [3, width, height, 1], 19);
    const tensor = decodeTensor(Buffer.concat([ccvHeader(CCV_DATATYPE.f16, [1, height, width, 3]), stream]), halves.length);
    assert.deepEqual([tensor.datatype, tensor.dims], [CCV_DATATYPE.f16, [1, height, width, 3]]);
    const got = new Uint16Array(tensor.data.length / 2);
    Buffer.from(got.buffer).set(tensor.data);
    const expectedFloats = new Float32Array(expected.buffer);
    assert.deepEqual(got, toHalfBits(expectedFloats));
    assert.deepEqual(got, halves); // 19 bits keep all of a half: sign, 8 exponent bits, 10 of mantissa
  });

  it('a 32F tensor keeps its float32 bytes; a stream that disagrees with the header or is cut short is refused', () => {
    const values = picture(8, 8, 3);
    const { stream, expected } = oracle(values, [3, 8, 8, 1], 32);
    const tensor = decodeTensor(Buffer.concat([ccvHeader(CCV_DATATYPE.f32, [1, 8, 8, 3]), stream]), values.length);
    assert.deepEqual(new Uint8Array(tensor.data), new Uint8Array(expected.buffer));
    const refusals: [Buffer, RegExp][] = [
      [Buffer.concat([ccvHeader(CCV_DATATYPE.f32, [1, 8, 4, 3]), stream]), /fpzip-coded values cannot be read: the fpzip stream holds 3×8×8×1 values; at most 96 are accepted/],
      [Buffer.concat([ccvHeader(CCV_DATATYPE.f32, [1, 8, 8, 4]), stream]), /header says 1×8×8×4 values, but its fpzip stream holds 3×8×8×1/],
      [Buffer.concat([ccvHeader(CCV_DATATYPE.f32, [1, 8, 8, 3]), stream.subarray(0, 40)]), /fpzip-coded values cannot be read: the fpzip stream is truncated/],
      [Buffer.concat([ccvHeader(CCV_DATATYPE.u8, [1, 8, 8, 3]), stream]), /must be 16F or 32F/],
    ];
    for (const [bytes, message] of refusals) {
      assert.throws(() => decodeTensor(bytes, 1000), (error: unknown) => error instanceof TensorFormatError && message.test(error.message), String(message));
    }
  });
});
