/**
 * What `dts-util generate` sends: its flags turned into an ImageGenerationRequest (a pure
 * function), and the img2img / inpainting pictures read from disk and checked before anything
 * connects, so a bad file is a usage error (exit 2) and not a server round trip.
 */
import fs from 'node:fs';

import { UsageError } from '../config/errors.js';
import type { ImageGenerationRequest } from '../generated/image_generation.js';
import { formatBytes } from '../util/format-bytes.js';
import { MAX_MESSAGE_BYTES } from '../util/message-limit.js';

/** The server's largest message: the pictures travel inside the request. */
export const MAX_REQUEST_BYTES = MAX_MESSAGE_BYTES;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);

/** The generate command's flags, as the request needs them; undefined means the flag was left out. */
export interface GenerateInput {
  prompt: string;
  negative: string;
  width?: number;
  height?: number;
  steps?: number;
  cfg?: number;
  seed: number;
  seedMode: string;
  sampler: string;
  batchSize: number;
  batchCount: number;
  hires: boolean;
  /** img2img's strength with an init image, else the hires fix's; 0 to 1. */
  denoise?: number;
  model: string;
  /** Paths of --init-image and --mask, for the checks and their messages. */
  initImageFile?: string;
  maskFile?: string;
  maskBlur?: number;
}

/** The picture bytes readInputImages read; empty when the flag was left out. */
export interface InputImages {
  initImage: Buffer;
  mask: Buffer;
}

/** Refuses flag combinations the server could only ignore or reject; needs no file and no server. */
export function checkGenerateInput(input: GenerateInput): void {
  if (input.maskFile !== undefined && input.initImageFile === undefined) {
    throw new UsageError('--mask needs --init-image: the mask says which part of that picture to repaint', 'add --init-image FILE (the picture to inpaint)');
  }
  if (input.maskBlur !== undefined && input.maskFile === undefined) {
    throw new UsageError('--mask-blur needs --mask: it blurs the mask\'s edge', 'add --mask FILE, or leave --mask-blur out');
  }
  if (input.denoise !== undefined && !(input.denoise >= 0 && input.denoise <= 1)) {
    throw new UsageError(`--denoise must be from 0 to 1, got ${input.denoise}`, 'pass a strength such as 0.75 (0.3 keeps most of the picture, 1 repaints it all)');
  }
  if (input.maskBlur !== undefined && !(Number.isInteger(input.maskBlur) && input.maskBlur >= 0)) {
    throw new UsageError(`--mask-blur must be a whole number of pixels, 0 or more, got ${input.maskBlur}`);
  }
}

/** The request for these flags and pictures. Fields left out are 0 (or unset) on the wire: the server fills in the model family's defaults. */
export function generateRequest(input: GenerateInput, images: InputImages = { initImage: Buffer.alloc(0), mask: Buffer.alloc(0) }): ImageGenerationRequest {
  checkGenerateInput(input);
  return {
    prompt: input.prompt,
    negativePrompt: input.negative,
    width: input.width ?? 0,
    height: input.height ?? 0,
    steps: input.steps ?? 0,
    cfgScale: input.cfg ?? 0,
    seed: input.seed,
    seedMode: input.seedMode,
    initImage: images.initImage,
    mask: images.mask,
    // Unset is the server's default blur (4 px); 0 is none, so it must not be dropped.
    maskBlur: input.maskBlur,
    sampler: input.sampler,
    restoreFaces: false,
    enableHr: input.hires,
    denoisingStrength: input.denoise ?? 0,
    batchSize: input.batchSize,
    batchCount: input.batchCount,
    model: input.model,
  };
}

/** Reads --init-image (PNG or JPEG) and --mask (PNG), each checked for size and kind; both together must fit in one request. */
export function readInputImages(input: Pick<GenerateInput, 'initImageFile' | 'maskFile'>): InputImages {
  const initImage = input.initImageFile === undefined ? Buffer.alloc(0) : readPicture('--init-image', input.initImageFile, true);
  const mask = input.maskFile === undefined ? Buffer.alloc(0) : readPicture('--mask', input.maskFile, false);
  if (initImage.length + mask.length > MAX_REQUEST_BYTES) {
    throw new UsageError(`--init-image and --mask are ${formatBytes(initImage.length + mask.length)} together; the server takes at most ${formatBytes(MAX_REQUEST_BYTES)} in one request`, 'make the pictures smaller (a PNG of the size you generate at, or a JPEG)');
  }
  return { initImage, mask };
}

function readPicture(flag: string, file: string, jpegToo: boolean): Buffer {
  const kinds = jpegToo ? 'a PNG or JPEG' : 'a PNG';
  let bytes: Buffer;
  try {
    // The size first: a huge file is refused without reading it.
    const size = fs.statSync(file).size;
    if (size > MAX_REQUEST_BYTES) {
      throw new UsageError(`${flag} ${file} is ${formatBytes(size)}; the server takes at most ${formatBytes(MAX_REQUEST_BYTES)} in one request`, 'make the picture smaller (a PNG of the size you generate at, or a JPEG)');
    }
    bytes = fs.readFileSync(file);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read ${flag} ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, `pass ${kinds} file you can read`);
  }
  const isPng = bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE);
  const isJpeg = jpegToo && bytes.subarray(0, JPEG_SIGNATURE.length).equals(JPEG_SIGNATURE);
  if (!isPng && !isJpeg) throw new UsageError(`${flag} ${file} is not ${kinds} file`, `pass ${kinds} file${jpegToo ? '' : ' (white = repaint, black = keep)'}`);
  return bytes;
}
