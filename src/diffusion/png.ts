import zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(parts: Buffer[]): number {
  let c = 0xffffffff;
  for (const part of parts) for (let i = 0; i < part.length; i++) c = CRC_TABLE[(c ^ part[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32([head.subarray(4), data]), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A text chunk: tEXt when the value is Latin-1 (what A1111 writes and readers expect for
 * `parameters`), iTXt (UTF-8) otherwise, so non-Latin prompts survive.
 */
function textChunk(keyword: string, value: string): Buffer {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\xff]*$/.test(value)) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')]));
  // keyword \0, compression flag 0, method 0, language tag \0, translated keyword \0, text
  return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]));
}

/**
 * Encodes 8-bit RGB pixels (row-major, 3 bytes each) as a PNG with text chunks. Deterministic:
 * the same pixels and text give the same bytes (fixed filter and compression level).
 */
export function encodePng(rgb: Uint8Array, width: number, height: number, text: Record<string, string> = {}): Buffer {
  if (rgb.length !== width * height * 3) throw new Error(`encodePng: expected ${width * height * 3} bytes, got ${rgb.length}`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: truecolour RGB
  const stride = width * 3;
  // Filter "Sub" on every row: cheap, and it compresses smooth images much better than none.
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const out = y * (stride + 1);
    const row = y * stride;
    raw[out] = 1;
    for (let x = 0; x < stride; x++) raw[out + 1 + x] = (rgb[row + x]! - (x >= 3 ? rgb[row + x - 3]! : 0)) & 0xff;
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    ...Object.entries(text).map(([k, v]) => textChunk(k, v)),
    chunk('IDAT', zlib.deflateSync(raw, { level: 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The pixels of a PNG this project wrote (8-bit RGB, every row filtered with Sub, see encodePng):
 * enough to compare two generations pixel by pixel without an image library. Anything else is refused.
 */
export function decodeOwnPng(png: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!bytes.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 2) throw new Error('only 8-bit RGB PNGs (as encodePng writes them) are read');
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  const rgb = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    if (raw[row] !== 1) throw new Error(`row ${y} uses PNG filter ${raw[row]}, not Sub`);
    for (let x = 0; x < stride; x++) rgb[y * stride + x] = (raw[row + 1 + x]! + (x >= 3 ? rgb[y * stride + x - 3]! : 0)) & 0xff;
  }
  return { width, height, rgb };
}

/** A value in [-1, 1] → its 8-bit level, rounded and clamped (NaN → 0). */
export function toLevel(value: number): number {
  const v = (value + 1) * 127.5;
  return v <= 0 || Number.isNaN(v) ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** VAE output in [-1, 1], planar [3, h, w] at `offset` → interleaved 8-bit RGB. */
export function toRgb8(planar: Float32Array, offset: number, width: number, height: number): Uint8Array {
  const plane = width * height;
  const rgb = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) rgb[i * 3 + c] = toLevel(planar[base + i]!);
  }
  return rgb;
}

/** Reads the text chunks back (tEXt and uncompressed iTXt): for tests and `dts-util` clients. */
export function readPngText(png: Buffer): Record<string, string> {
  const text: Record<string, string> = {};
  for (let pos = 8; pos + 8 <= png.length; ) {
    const length = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + length);
    const nul = data.indexOf(0);
    if (type === 'tEXt') text[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    if (type === 'iTXt') {
      let p = nul + 3; // skip compression flag and method
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      text[data.toString('latin1', 0, nul)] = data.toString('utf8', p);
    }
    pos += 12 + length;
  }
  return text;
}

/** Interleaved 8-bit RGB → planar [3, h, w] in [-1, 1], as the VAE encoder takes a picture (toRgb8's inverse). */
export function fromRgb8(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const planar = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) planar[c * plane + i] = rgb[i * 3 + c]! / 127.5 - 1;
  }
  return planar;
}
