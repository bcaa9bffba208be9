import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

import { UploadFileRequest } from '../generated/image_generation.js';

const DATA_FIELD = 2;

/**
 * Bytes → UploadFileRequest with `data` as a view of the received message, not a copy. The
 * generated decoder copies every bytes field (`Buffer.from(reader.bytes())`): a fresh megabyte
 * per upload chunk, which with its page faults and GC cost more server CPU than the SHA-256.
 * Only the data field is handled here; the rest of the message (a few bytes) goes through the
 * generated decoder, so every other field keeps its generated meaning and validation.
 */
export function decodeUploadFileRequest(bytes: Uint8Array): UploadFileRequest {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = new BinaryReader(buffer);
  // Where each data field sits; protobuf says the last occurrence of a bytes field wins.
  const spans: { start: number; end: number; valueStart: number }[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === DATA_FIELD && wireType === WireType.LengthDelimited) {
      const length = reader.uint32();
      const valueStart = reader.pos;
      reader.pos += length;
      if (reader.pos > reader.len) throw new RangeError('premature EOF');
      spans.push({ start, end: reader.pos, valueStart });
    } else {
      reader.skip(wireType, fieldNo);
    }
  }
  if (spans.length === 0) return UploadFileRequest.decode(buffer);
  const rest: Buffer[] = [];
  let from = 0;
  for (const span of spans) {
    rest.push(buffer.subarray(from, span.start));
    from = span.end;
  }
  rest.push(buffer.subarray(from));
  const message = UploadFileRequest.decode(Buffer.concat(rest));
  const last = spans.at(-1)!;
  message.data = buffer.subarray(last.valueStart, last.end);
  return message;
}
