import zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Samples per pixel, and the bit depths the PNG specification allows, per colour type. */
const COLOUR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] }, // greyscale
  2: { channels: 3, depths: [8, 16] }, // truecolour
  3: { channels: 1, depths: [1, 2, 4, 8] }, // indexed
  4: { channels: 2, depths: [8, 16] }, // greyscale + alpha
  6: { channels: 4, depths: [8, 16] }, // truecolour + alpha
};

/** Adam7's seven passes: first column and row, then column and row steps. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

export interface PngSummary {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  interlaced: boolean;
  /** Chunk types in file order. */
  chunks: string[];
}

/**
 * Checks that bytes are a whole, uncorrupted PNG without a PNG library (pngjs is only a
 * development dependency): the signature, every chunk's length and CRC, IHDR first and sane,
 * IEND last, and image data that inflates to exactly the scanlines IHDR promises, each with a
 * valid filter type. Throws an Error that says what is wrong; returns what the header says.
 */
export function inspectPng(bytes: Uint8Array): PngSummary {
  const png = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (png.length < SIGNATURE.length || !png.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new Error(`not a PNG: the first bytes are ${png.subarray(0, 8).toString('hex') || 'missing'}, not the PNG signature`);
  }
  const chunks = readChunks(png);
  const types = chunks.map((c) => c.type);
  if (types[0] !== 'IHDR') throw new Error(`the first chunk is ${types[0] ?? 'missing'}, not IHDR`);
  const header = parseHeader(chunks[0]!.data);
  if (header.colourType === 3 && !types.includes('PLTE')) throw new Error('an indexed-colour PNG without a PLTE chunk');
  const idat = chunks.filter((c) => c.type === 'IDAT').map((c) => c.data);
  if (idat.length === 0) throw new Error('no IDAT chunk: the PNG has no image data');
  checkScanlines(Buffer.concat(idat), header);
  return { ...header, chunks: types };
}

interface Chunk {
  type: string;
  data: Buffer;
}

/** Walks the chunks after the signature up to IEND, checking lengths and CRCs. */
function readChunks(png: Buffer): Chunk[] {
  const chunks: Chunk[] = [];
  let offset = SIGNATURE.length;
  for (;;) {
    if (offset + 12 > png.length) throw new Error(`truncated at byte ${offset}: no IEND chunk`);
    const length = png.readUInt32BE(offset);
    const typeBytes = png.subarray(offset + 4, offset + 8);
    const type = typeBytes.toString('latin1');
    if (!/^[A-Za-z]{4}$/.test(type)) throw new Error(`a chunk at byte ${offset} has an invalid type ${JSON.stringify(type)}`);
    if (offset + 12 + length > png.length) throw new Error(`the ${type} chunk at byte ${offset} runs past the end of the file (truncated)`);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const stored = png.readUInt32BE(offset + 8 + length);
    const computed = zlib.crc32(data, zlib.crc32(typeBytes));
    if (stored !== computed) throw new Error(`the ${type} chunk at byte ${offset} fails its CRC (stored ${hex(stored)}, computed ${hex(computed)}): the file is corrupted`);
    chunks.push({ type, data });
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  if (chunks.at(-1)!.data.length !== 0) throw new Error('the IEND chunk is not empty');
  if (offset !== png.length) throw new Error(`${png.length - offset} bytes follow the IEND chunk`);
  return chunks;
}

function parseHeader(data: Buffer): Omit<PngSummary, 'chunks'> {
  if (data.length !== 13) throw new Error(`IHDR is ${data.length} bytes, not 13`);
  const width = data.readUInt32BE(0);
  const height = data.readUInt32BE(4);
  const [bitDepth, colourType, compression, filter, interlace] = [data[8]!, data[9]!, data[10]!, data[11]!, data[12]!];
  if (width === 0 || height === 0) throw new Error(`IHDR gives an empty image (${width}×${height})`);
  const colour = COLOUR_TYPES[colourType];
  if (!colour) throw new Error(`IHDR has an unknown colour type ${colourType}`);
  if (!colour.depths.includes(bitDepth)) throw new Error(`IHDR's bit depth ${bitDepth} is not allowed with colour type ${colourType}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) throw new Error(`IHDR has an unknown compression (${compression}), filter (${filter}) or interlace (${interlace}) method`);
  return { width, height, bitDepth, colourType, interlaced: interlace === 1 };
}

/** Inflates the image data and checks it is exactly the scanlines the header implies. */
function checkScanlines(compressed: Buffer, header: Omit<PngSummary, 'chunks'>): void {
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(compressed);
  } catch (error) {
    throw new Error(`the image data does not inflate: ${(error as Error).message}`);
  }
  const bitsPerPixel = COLOUR_TYPES[header.colourType]!.channels * header.bitDepth;
  let offset = 0;
  for (const [width, rows] of passes(header)) {
    const rowBytes = 1 + Math.ceil((width * bitsPerPixel) / 8);
    for (let row = 0; row < rows; row++, offset += rowBytes) {
      if (offset + rowBytes > raw.length) throw new Error(`the image data ends early: ${raw.length} bytes inflated, ${header.width}×${header.height} needs more`);
      if (raw[offset]! > 4) throw new Error(`scanline filter type ${raw[offset]} at byte ${offset} of the image data is not 0–4`);
    }
  }
  if (offset !== raw.length) throw new Error(`the image data inflates to ${raw.length} bytes, ${header.width}×${header.height} needs ${offset}`);
}

/** Width and row count of each pass: one for a plain image, up to seven for Adam7. */
function passes({ width, height, interlaced }: Omit<PngSummary, 'chunks'>): Array<[number, number]> {
  if (!interlaced) return [[width, height]];
  return ADAM7.map(([x0, y0, dx, dy]): [number, number] => [Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)]).filter(([w, h]) => w > 0 && h > 0);
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
