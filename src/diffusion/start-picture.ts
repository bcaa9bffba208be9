import { resizePixels } from './image-resize.js';
import { decodeInputImage, InputImageError, type RgbImage } from './input-image.js';

/** What img2img and inpainting start from, at the size the request makes. */
export interface StartPicture {
  /** The picture, resized to the request's width × height. */
  image: RgbImage;
  /** Inpainting: how much each pixel is repainted, 0 (keep) to 1, at width × height; not yet blurred. */
  repaint?: Float32Array;
  /** Inpainting: pixels of blur at the mask's edge. */
  maskBlur: number;
}

/** A request's img2img fields that are wrong, with which field (the caller answers INVALID_ARGUMENT). */
export class StartPictureError extends Error {
  override readonly name = 'StartPictureError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The size a request without width and height gets from its picture: a multiple of 8 (the VAE's), rounded down. */
export function pictureSize(image: RgbImage): { width: number; height: number } {
  return { width: Math.max(8, image.width - (image.width % 8)), height: Math.max(8, image.height - (image.height % 8)) };
}

/** Decodes init_image (and mask), bounded before anything is decoded; a wrong one is a StartPictureError naming the field. */
export function readStartPictures(initImage: Uint8Array, mask: Uint8Array): { image: RgbImage; mask?: RgbImage } {
  if (initImage.length === 0) throw new StartPictureError('mask', 'a mask needs the picture it masks: send init_image too');
  const image = decode(initImage, 'init_image');
  if (mask.length === 0) return { image };
  const decodedMask = decode(mask, 'mask');
  if (decodedMask.width !== image.width || decodedMask.height !== image.height) {
    throw new StartPictureError('mask', `is ${decodedMask.width}×${decodedMask.height} but init_image is ${image.width}×${image.height}; paint the mask on a picture of the same size`);
  }
  return { image, mask: decodedMask };
}

/**
 * The pictures at the request's size ("just resize", as A1111 calls it: stretched to width ×
 * height with an averaging bilinear filter, the mask the same way). The mask's brightness is
 * the repaint weight: white repaints, black keeps, grey repaints partly.
 */
export function startPicture(pictures: { image: RgbImage; mask?: RgbImage }, width: number, height: number): Omit<StartPicture, 'maskBlur'> {
  const { image, mask } = pictures;
  const resized = { width, height, rgb: resizePixels(image.rgb, image.width, image.height, 3, width, height) };
  if (!mask) return { image: resized };
  const grey = new Uint8Array(mask.width * mask.height);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(0.299 * mask.rgb[3 * i]! + 0.587 * mask.rgb[3 * i + 1]! + 0.114 * mask.rgb[3 * i + 2]!);
  const scaled = resizePixels(grey, mask.width, mask.height, 1, width, height);
  return { image: resized, repaint: Float32Array.from(scaled, (v) => v / 255) };
}

function decode(bytes: Uint8Array, field: string): RgbImage {
  try {
    return decodeInputImage(bytes, field);
  } catch (error) {
    if (error instanceof InputImageError) throw new StartPictureError(field, error.message.replace(`${field} `, ''));
    throw error;
  }
}
