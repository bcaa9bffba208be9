import { UploadFileRequest } from '../generated/image_generation.js';

const DATA_TAG = (2 << 3) | 2; // field 2, length-delimited

/** Wire bytes of data-only messages the uploader framed in place (see ChunkFrame). */
const framedInPlace = new WeakMap<UploadFileRequest, Buffer>();

/**
 * UploadFileRequest → bytes. A message from ChunkFrame already is its wire form and passes
 * through untouched; any other is encoded with one allocation and one copy of `data`. Every
 * protobuf parser reads both as ts-proto's encoding (field order is free on the wire). ts-proto's
 * writer grows a zeroed buffer, slices it and grpc-js wraps it in a new Buffer: four fresh
 * megabyte-sized allocations per chunk, and fresh memory (page faults, GC) was most of the
 * client's cost per byte.
 */
export function encodeUploadFileRequest(message: UploadFileRequest): Buffer {
  const framed = framedInPlace.get(message);
  if (framed) return framed;
  const head = UploadFileRequest.encode({ ...message, data: Buffer.alloc(0) }).finish();
  const length = message.data.length;
  if (length === 0) return Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const out = Buffer.allocUnsafe(head.length + 1 + varintSize(length) + length);
  out.set(head, 0);
  const pos = writeDataHeader(out, head.length, length);
  out.set(message.data, pos);
  return out;
}

/**
 * A read buffer with room in front of the data for the message header, so a chunk read from
 * disk becomes a data-only UploadFileRequest without being copied.
 */
export class ChunkFrame {
  private readonly headroom: number;
  private readonly bytes: Buffer;

  constructor(readonly capacity: number) {
    this.headroom = 1 + varintSize(capacity);
    this.bytes = Buffer.allocUnsafe(this.headroom + capacity);
  }

  /** Where to read up to `capacity` bytes of file data. */
  get dataArea(): Buffer {
    return this.bytes.subarray(this.headroom);
  }

  /** The first `length` bytes of the data area as a message whose encoding costs nothing. */
  message(length: number): UploadFileRequest {
    const headerLength = 1 + varintSize(length);
    const start = this.headroom - headerLength;
    writeDataHeader(this.bytes, start, length);
    const message = { filename: '', data: this.bytes.subarray(this.headroom, this.headroom + length), sha256: '', size: 0 };
    framedInPlace.set(message, this.bytes.subarray(start, this.headroom + length));
    return message;
  }
}

/** Tag and length of the data field at `pos`; returns where the data goes. */
function writeDataHeader(out: Buffer, pos: number, length: number): number {
  out[pos++] = DATA_TAG;
  for (let n = length; ; n >>>= 7) {
    if (n < 0x80) {
      out[pos++] = n;
      return pos;
    }
    out[pos++] = (n & 0x7f) | 0x80;
  }
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}
