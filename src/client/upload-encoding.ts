import { UploadFileRequest } from '../generated/image_generation.js';

const DATA_TAG = (2 << 3) | 2; // field 2, length-delimited

/**
 * UploadFileRequest → bytes with one allocation and one copy of `data`. Every protobuf parser
 * reads them as ts-proto's encoding (data goes last; field order is free on the wire). ts-proto's writer grows a zeroed buffer, slices it and grpc-js wraps it in a new Buffer:
 * four fresh megabyte-sized allocations per chunk, which made the client the upload bottleneck.
 */
export function encodeUploadFileRequest(message: UploadFileRequest): Buffer {
  const head = UploadFileRequest.encode({ ...message, data: Buffer.alloc(0) }).finish();
  const length = message.data.length;
  if (length === 0) return Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const out = Buffer.allocUnsafe(head.length + 1 + varintSize(length) + length);
  out.set(head, 0);
  let pos = head.length;
  out[pos++] = DATA_TAG;
  for (let n = length; ; n >>>= 7) {
    if (n < 0x80) {
      out[pos++] = n;
      break;
    }
    out[pos++] = (n & 0x7f) | 0x80;
  }
  out.set(message.data, pos);
  return out;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}
