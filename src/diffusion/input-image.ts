import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** A picture as the pipeline takes it: 8-bit RGB, interleaved, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** The most pixels an input picture may have: room for 4096×4096 (resized down before use); 50 MP is refused. */
export const MAX_INPUT_PIXELS = 4096 * 4096;
const MAX_INPUT_SIDE = 8192;

/** Bytes that are not a picture this server reads, or one too large (the caller answers INVALID_ARGUMENT). */
export class InputImageError extends Error {
  override readonly name = 'InputImageError';
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * PNG or JPEG bytes → RGB. The size is read from the file's header first and checked against the
 * limits, so nothing larger is ever decoded (a 20-byte PNG can claim 100 000 × 100 000 pixels).
 * Transparency is dropped: PNG's alpha is composited over black, as a mask's unpainted area is.
 */
export function decodeInputImage(bytes: Uint8Array, field: string): RgbImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.subarray(0, 8).equals(PNG_SIGNATURE)) return decodePng(buf, field);
  if (buf[0] === 0xff && buf[1] === 0xd8) return decodeJpeg(buf, field);
  throw new InputImageError(`${field} is not a PNG or JPEG picture (${buf.length} bytes; it starts with ${buf.subarray(0, 4).toString('hex') || 'nothing'})`);
}

function checkSize(field: string, width: number, height: number): void {
  if (width < 1 || height < 1) throw new InputImageError(`${field} claims ${width}×${height} pixels`);
  if (width > MAX_INPUT_SIDE || height > MAX_INPUT_SIDE || width * height > MAX_INPUT_PIXELS) {
    throw new InputImageError(`${field} is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} megapixels); at most ${MAX_INPUT_PIXELS / 2 ** 20} MiP and ${MAX_INPUT_SIDE} per side are read: scale it down first`);
  }
}

function decodePng(buf: Buffer, field: string): RgbImage {
  // IHDR is the first chunk: width and height at bytes 16 and 20.
  if (buf.length < 24 || buf.toString('latin1', 12, 16) !== 'IHDR') throw new InputImageError(`${field} is a truncated PNG`);
  checkSize(field, buf.readUInt32BE(16), buf.readUInt32BE(20));
  let png: PNG;
  try {
    png = PNG.sync.read(buf);
  } catch (error) {
    throw new InputImageError(`${field} is not a readable PNG (${(error as Error).message})`);
  }
  const { width, height, data } = png;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    const alpha = data[i + 3]!;
    rgb[j] = alpha === 255 ? data[i]! : Math.round((data[i]! * alpha) / 255);
    rgb[j + 1] = alpha === 255 ? data[i + 1]! : Math.round((data[i + 1]! * alpha) / 255);
    rgb[j + 2] = alpha === 255 ? data[i + 2]! : Math.round((data[i + 2]! * alpha) / 255);
  }
  return { width, height, rgb };
}

function decodeJpeg(buf: Buffer, field: string): RgbImage {
  const size = jpegSize(buf);
  if (!size) throw new InputImageError(`${field} is a JPEG without a frame header (truncated?)`);
  checkSize(field, size.width, size.height);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_INPUT_PIXELS / 1e6 + 1, maxMemoryUsageInMB: 512 });
  } catch (error) {
    throw new InputImageError(`${field} is not a readable JPEG (${(error as Error).message})`);
  }
  return { width: decoded.width, height: decoded.height, rgb: decoded.data };
}

/** Width and height from a JPEG's first start-of-frame marker (SOF0–SOF15 but DHT, JPG, DAC), without decoding. */
function jpegSize(buf: Buffer): { width: number; height: number } | undefined {
  for (let at = 2; at + 9 < buf.length; ) {
    if (buf[at] !== 0xff) return undefined;
    const marker = buf[at + 1]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) {
      at += marker === 0xff ? 1 : 2;
      continue;
    }
    const length = buf.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: buf.readUInt16BE(at + 5), width: buf.readUInt16BE(at + 7) };
    }
    at += 2 + length;
  }
  return undefined;
}
