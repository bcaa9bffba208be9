import zlib from 'node:zlib';

import { floatToHalfBits, fromHalfBits, toHalfBits } from '../../diffusion/float16.js';
import { fpzipDecode } from './fpzip.js';

/**
 * The tensors the Draw Things protocol carries (images, masks, previews) are serialized the way
 * its tensor library (libccv's NNC, through s4nnc) writes them: 17 little-endian 32-bit words,
 * then the values. Word 0 says how the values are coded, words 1–4 are the tensor's parameters
 * (memory type, layout, data type, reserved), words 5–16 its dimensions (0 after the last).
 * The constants are libccv's; docs/draw-things-protocol.md says where each was read.
 */
export const CCV_HEADER_BYTES = 68;

export const CCV_CODEC = { raw: 0, zip: 0x217, fpzip: 0xf7217, ezm7: 0x511 } as const;
const CCV_CPU_MEMORY = 0x1;
export const CCV_FORMAT = { nchw: 0x01, nhwc: 0x02, chwn: 0x04 } as const;
export const CCV_DATATYPE = { u8: 0x01000, s32: 0x02000, f32: 0x04000, f64: 0x10000, f16: 0x20000 } as const;
const MAX_DIMS = 12;

const ELEMENT_BYTES: Record<number, number> = { [CCV_DATATYPE.u8]: 1, [CCV_DATATYPE.s32]: 4, [CCV_DATATYPE.f32]: 4, [CCV_DATATYPE.f64]: 8, [CCV_DATATYPE.f16]: 2 };

/** The half-precision bits of v / 127.5 − 1 for every 8-bit level v: the inverse of how pixels were made from [−1, 1]. */
const LEVEL_TO_HALF = Uint16Array.from({ length: 256 }, (_, v) => floatToHalfBits(v / 127.5 - 1));

/**
 * 8-bit RGB pixels (interleaved, row-major) → the app's image tensor: fp16, NHWC, shape
 * [1, height, width, 3], values in [−1, 1], uncompressed (the app's own default for responses).
 */
export function encodeImageTensor(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) throw new Error(`encodeImageTensor: expected ${width * height * 3} bytes, got ${rgb.length}`);
  const out = Buffer.alloc(CCV_HEADER_BYTES + rgb.length * 2);
  writeHeader(out, CCV_FORMAT.nhwc, CCV_DATATYPE.f16, [1, height, width, 3]);
  const values = new Uint16Array(out.buffer, out.byteOffset + CCV_HEADER_BYTES, rgb.length);
  for (let i = 0; i < rgb.length; i++) values[i] = LEVEL_TO_HALF[rgb[i]!]!;
  return out;
}

function writeHeader(out: Buffer, format: number, datatype: number, dims: number[]): void {
  out.writeUInt32LE(CCV_CODEC.raw, 0);
  out.writeUInt32LE(CCV_CPU_MEMORY, 4);
  out.writeUInt32LE(format, 8);
  out.writeUInt32LE(datatype, 12);
  dims.forEach((d, i) => out.writeInt32LE(d, 20 + 4 * i));
}

/** A tensor that cannot be read, with what to do about it (the caller answers INVALID_ARGUMENT). */
export class TensorFormatError extends Error {
  override readonly name = 'TensorFormatError';
}

export interface DecodedTensor {
  format: number;
  datatype: number;
  dims: number[];
  /** The values' bytes, uncompressed, in the tensor's own data type. */
  data: Buffer;
}

/**
 * Reads a serialized tensor. Its size is known from the header before anything is inflated, and
 * must be at most `maxValues` elements; `.zip` (raw DEFLATE) is inflated no further than that.
 * fpzip-coded float tensors (the app's default for images) are decoded to the tensor's own data
 * type: the app codes fp16 as float32 at 19 bits of precision, so converting back is exact.
 * ezm7 coding is refused with a message saying so.
 */
export function decodeTensor(bytes: Uint8Array, maxValues: number): DecodedTensor {
  if (bytes.length < CCV_HEADER_BYTES) throw new TensorFormatError(`a tensor is at least ${CCV_HEADER_BYTES} bytes (its header); got ${bytes.length}`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const codec = buf.readUInt32LE(0);
  const format = buf.readUInt32LE(8);
  const datatype = buf.readUInt32LE(12);
  const elementBytes = ELEMENT_BYTES[datatype];
  if (elementBytes === undefined) throw new TensorFormatError(`unknown tensor data type 0x${datatype.toString(16)}`);
  const dims: number[] = [];
  for (let i = 0; i < MAX_DIMS; i++) {
    const d = buf.readInt32LE(20 + 4 * i);
    if (d === 0) break;
    if (d < 0) throw new TensorFormatError(`tensor dimension ${i} is negative (${d})`);
    dims.push(d);
  }
  if (dims.length === 0) throw new TensorFormatError('the tensor has no dimensions');
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > maxValues) throw new TensorFormatError(`the tensor has ${count} values (${dims.join('×')}); at most ${maxValues} are accepted`);
  const size = count * elementBytes;
  const payload = buf.subarray(CCV_HEADER_BYTES);
  let data: Buffer;
  if (codec === CCV_CODEC.raw) {
    data = payload;
  } else if (codec === CCV_CODEC.zip) {
    try {
      data = zlib.inflateRawSync(payload, { maxOutputLength: size });
    } catch (error) {
      throw new TensorFormatError(`the tensor's zip-coded values do not inflate to its ${size} bytes (${(error as Error).message})`);
    }
  } else if (codec === CCV_CODEC.fpzip) {
    data = fpzipValues(payload, datatype, dims, count);
  } else if (codec === CCV_CODEC.ezm7) {
    throw new TensorFormatError('the tensor is ezm7-compressed, which this server does not read; send it uncompressed, zip- or fpzip-coded');
  } else {
    throw new TensorFormatError(`unknown tensor coding 0x${codec.toString(16)}`);
  }
  if (data.length !== size) throw new TensorFormatError(`the tensor's header says ${dims.join('×')} values (${size} bytes), but ${data.length} bytes follow`);
  return { format, datatype, dims, data };
}

/**
 * An fpzip-coded tensor's values, as bytes of its data type. The app writes fpzip only for 16F and
 * 32F tensors, as one float32 stream whose nx·ny·nz·nf is the tensor's element count.
 */
function fpzipValues(payload: Buffer, datatype: number, dims: number[], count: number): Buffer {
  if (datatype !== CCV_DATATYPE.f16 && datatype !== CCV_DATATYPE.f32) {
    throw new TensorFormatError(`an fpzip-coded tensor must be 16F or 32F, not data type 0x${datatype.toString(16)}`);
  }
  let decoded;
  try {
    decoded = fpzipDecode(payload, count); // no more values than the header says
  } catch (error) {
    throw new TensorFormatError(`the tensor's fpzip-coded values cannot be read: ${(error as Error).message}`);
  }
  const { nx, ny, nz, nf, values } = decoded;
  if (values.length !== count) {
    throw new TensorFormatError(`the tensor's header says ${dims.join('×')} values, but its fpzip stream holds ${nx}×${ny}×${nz}×${nf}`);
  }
  const out = datatype === CCV_DATATYPE.f16 ? toHalfBits(values) : values;
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** An fp16 image tensor's values as float32 (tests, and inputs that are images). */
export function halfValues(tensor: DecodedTensor): Float32Array {
  if (tensor.datatype !== CCV_DATATYPE.f16) throw new TensorFormatError(`expected an fp16 tensor, got data type 0x${tensor.datatype.toString(16)}`);
  const copy = new Uint16Array(tensor.data.length / 2);
  Buffer.from(copy.buffer).set(tensor.data);
  return fromHalfBits(copy);
}
