import crypto from 'node:crypto';

import { InvalidRequestError } from '../../diffusion/request.js';
import { encodePng, toLevel } from '../../diffusion/png.js';
import { MAX_INPUT_PIXELS } from '../../diffusion/input-image.js';
import { CCV_DATATYPE, decodeTensor, halfValues, TensorFormatError } from './ccv-tensor.js';

/** A field that is a 32-byte SHA-256 names an entry of `contents`; anything else is the tensor itself (the app's rule). */
const SHA256_BYTES = 32;

/** The request's contents by their SHA-256, computed once per request. */
export function contentsByHash(contents: readonly Buffer[]): Map<string, Buffer> {
  return new Map(contents.map((content) => [crypto.createHash('sha256').update(content).digest('hex'), content]));
}

function unwrap(field: string, bytes: Buffer, contents: Map<string, Buffer>): Buffer {
  if (bytes.length !== SHA256_BYTES) return bytes;
  const content = contents.get(bytes.toString('hex'));
  if (!content) throw new InvalidRequestError(field, `names content ${bytes.toString('hex')}, which the request's contents do not hold`);
  return content;
}

function tensor(field: string, bytes: Buffer, contents: Map<string, Buffer>, channels: number) {
  try {
    return decodeTensor(unwrap(field, bytes, contents), MAX_INPUT_PIXELS * channels);
  } catch (error) {
    if (error instanceof TensorFormatError) throw new InvalidRequestError(field, error.message);
    throw error;
  }
}

/** The app's canvas (fp16 NHWC [1, h, w, 3] in [−1, 1]) → the PNG the seed request's init_image takes. */
export function canvasPng(bytes: Buffer, contents: Map<string, Buffer>): Buffer {
  const decoded = tensor('image', bytes, contents, 3);
  const [n, height, width, channels] = decoded.dims;
  if (decoded.dims.length !== 4 || n !== 1 || channels !== 3 || decoded.datatype !== CCV_DATATYPE.f16) {
    throw new InvalidRequestError('image', `must be one fp16 RGB picture [1, height, width, 3]; got ${decoded.dims.join('×')}`);
  }
  const values = halfValues(decoded);
  const rgb = Uint8Array.from(values, toLevel);
  return encodePng(rgb, width!, height!);
}

/**
 * The app's mask (8-bit [h, w]; the low 3 bits of each value: 0 keep, 1 repaint from noise,
 * 2 or 4 repaint at the strength, 3 always keep) → the seed request's mask PNG, white where
 * repainted. As the app reads it, a mask with no 1, 2 or 4 but some 3 repaints its 0s; one with
 * neither is no inpainting at all (undefined: the picture is img2img'd whole).
 */
export function maskPng(bytes: Buffer, contents: Map<string, Buffer>): Buffer | undefined {
  const decoded = tensor('mask', bytes, contents, 1);
  const [height, width] = decoded.dims;
  if (decoded.dims.length !== 2 || decoded.datatype !== CCV_DATATYPE.u8) throw new InvalidRequestError('mask', `must be an 8-bit mask [height, width]; got ${decoded.dims.join('×')}`);
  const kinds = decoded.data.map((v) => v & 7);
  const repaints = kinds.some((k) => k === 1 || k === 2 || k === 4);
  if (!repaints && !kinds.includes(3)) return undefined;
  const repainted = (k: number) => (repaints ? k === 1 || k === 2 || k === 4 : k === 0);
  const rgb = new Uint8Array(width! * height! * 3);
  kinds.forEach((k, i) => repainted(k) && rgb.fill(255, i * 3, i * 3 + 3));
  return encodePng(rgb, width!, height!);
}
