import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';

import { CCV_CODEC, CCV_DATATYPE, CCV_FORMAT, CCV_HEADER_BYTES, decodeTensor, encodeImageTensor, halfValues, TensorFormatError } from '../../src/server/draw-things/ccv-tensor.js';

/** A header as the app's tensor library writes one, for values coded with `codec`. */
function header(codec: number, datatype: number, dims: number[], format: number = CCV_FORMAT.nhwc): Buffer {
  const out = Buffer.alloc(CCV_HEADER_BYTES);
  out.writeUInt32LE(codec, 0);
  out.writeUInt32LE(1, 4);
  out.writeUInt32LE(format, 8);
  out.writeUInt32LE(datatype, 12);
  dims.forEach((d, i) => out.writeInt32LE(d, 20 + 4 * i));
  return out;
}

describe('CCV tensors (the Draw Things protocol\'s images and masks)', () => {
  it('an 8-bit picture becomes fp16 NHWC in [-1, 1] and comes back to the same levels', () => {
    const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => (i * 37) % 256);
    rgb[0] = 0;
    rgb[1] = 255;
    const tensor = encodeImageTensor(rgb, 3, 2);
    const decoded = decodeTensor(tensor, 100);
    assert.deepEqual([decoded.format, decoded.datatype, decoded.dims], [CCV_FORMAT.nhwc, CCV_DATATYPE.f16, [1, 2, 3, 3]]);
    const values = halfValues(decoded);
    assert.equal(values[0], -1);
    assert.equal(values[1], 1);
    assert.deepEqual(Uint8Array.from(values, (v) => Math.round((v + 1) * 127.5)), rgb);
  });

  it('reads zip-coded values (raw DEFLATE, as the app writes masks) up to the size the header says', () => {
    const mask = Uint8Array.from({ length: 64 }, (_, i) => (i < 32 ? 0 : 2));
    const coded = Buffer.concat([header(CCV_CODEC.zip, CCV_DATATYPE.u8, [8, 8], CCV_FORMAT.nchw), zlib.deflateRawSync(mask)]);
    assert.deepEqual(new Uint8Array(decodeTensor(coded, 64).data), mask);
    // Values that inflate past the header's size are refused, not inflated without end.
    const bomb = Buffer.concat([header(CCV_CODEC.zip, CCV_DATATYPE.u8, [8, 8]), zlib.deflateRawSync(Buffer.alloc(10 ** 7))]);
    assert.throws(() => decodeTensor(bomb, 64), /do not inflate to its 64 bytes/);
  });

  it('refuses what it cannot read, saying why: ezm7, broken fpzip, too many values, a short or lying payload, an unknown type', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([header(CCV_CODEC.ezm7, CCV_DATATYPE.f16, [1, 8, 8, 3]), Buffer.alloc(100)]), /ezm7-compressed, which this server does not read; send it uncompressed, zip- or fpzip-coded/],
      // (fpzip streams themselves are checked against the fpzip tool in fpzip.test.ts)
      [Buffer.concat([header(CCV_CODEC.fpzip, CCV_DATATYPE.f16, [1, 8, 8, 3]), Buffer.alloc(100)]), /fpzip-coded values cannot be read: not an fpzip stream/],
      [header(CCV_CODEC.raw, CCV_DATATYPE.f16, [1, 4096, 4096, 3]), /50331648 values \(1×4096×4096×3\); at most 1000 are accepted/],
      [Buffer.concat([header(CCV_CODEC.raw, CCV_DATATYPE.f16, [1, 2, 2, 3]), Buffer.alloc(5)]), /says 1×2×2×3 values \(24 bytes\), but 5 bytes follow/],
      [Buffer.alloc(20), /at least 68 bytes/],
      [header(CCV_CODEC.raw, 0x777, [1]), /unknown tensor data type 0x777/],
      [header(0x999, CCV_DATATYPE.u8, [1]), /unknown tensor coding 0x999/],
      [header(CCV_CODEC.raw, CCV_DATATYPE.u8, []), /no dimensions/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(() => decodeTensor(bytes, 1000), (error: unknown) => error instanceof TensorFormatError && message.test(error.message));
    }
  });
});
