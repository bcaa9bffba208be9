import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { PNG } from 'pngjs';

import { generateRequest, MAX_REQUEST_BYTES, readInputImages, type GenerateInput } from '../../src/client/generate-request.js';

const BASE: GenerateInput = { prompt: 'a cat', negative: '', seed: -1, seedMode: 'default', sampler: '', batchSize: 1, batchCount: 1, hires: false, model: '' };
const png = (width: number, height: number) => PNG.sync.write(new PNG({ width, height }));
/** The start of a JPEG (SOI, then an APP0 marker): what the check reads. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
const usage = (pattern: RegExp) => (e: Error) => e.name === 'UsageError' && pattern.test(e.message);

describe('generateRequest: the generate command flags as an ImageGenerationRequest', () => {
  it('leaves what the flags leave out at 0 or unset, for the server to fill in', () => {
    const request = generateRequest(BASE);
    assert.deepEqual([request.width, request.height, request.steps, request.cfgScale, request.denoisingStrength], [0, 0, 0, 0, 0]);
    assert.deepEqual([request.initImage.length, request.mask.length, request.maskBlur], [0, 0, undefined]);
  });

  it('puts the pictures in initImage and mask, --denoise in denoisingStrength and --mask-blur in maskBlur (0 kept, not unset)', () => {
    const images = { initImage: png(8, 8), mask: png(8, 8) };
    const request = generateRequest({ ...BASE, initImageFile: 'cat.png', maskFile: 'mask.png', denoise: 0.6, maskBlur: 0, width: 64 }, images);
    assert.equal(request.initImage, images.initImage);
    assert.equal(request.mask, images.mask);
    assert.equal(request.denoisingStrength, 0.6);
    assert.equal(request.maskBlur, 0);
    assert.equal(request.width, 64);
    assert.equal(generateRequest({ ...BASE, initImageFile: 'cat.png', maskFile: 'mask.png', maskBlur: 12 }, images).maskBlur, 12);
  });

  it('refuses --mask without --init-image, --mask-blur without --mask, and a --denoise outside 0..1', () => {
    assert.throws(() => generateRequest({ ...BASE, maskFile: 'mask.png' }), usage(/--mask needs --init-image/));
    assert.throws(() => generateRequest({ ...BASE, initImageFile: 'cat.png', maskBlur: 4 }), usage(/--mask-blur needs --mask/));
    for (const denoise of [-0.1, 1.01, Number.NaN]) assert.throws(() => generateRequest({ ...BASE, denoise }), usage(/--denoise must be from 0 to 1/), String(denoise));
    for (const denoise of [0, 1, 0.75]) assert.equal(generateRequest({ ...BASE, denoise }).denoisingStrength, denoise);
  });
});

describe('readInputImages: --init-image and --mask from disk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-generate-request-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, bytes: Buffer | string) => {
    fs.writeFileSync(path.join(dir, name), bytes);
    return path.join(dir, name);
  };

  it('reads a PNG or a JPEG init image and a PNG mask byte for byte; nothing left out reads nothing', () => {
    const cat = png(16, 8);
    const images = readInputImages({ initImageFile: file('cat.png', cat), maskFile: file('mask.png', png(16, 8)) });
    assert.deepEqual(images.initImage, cat);
    assert.deepEqual(images.mask, png(16, 8));
    assert.deepEqual(readInputImages({ initImageFile: file('cat.jpg', JPEG) }).initImage, JPEG);
    assert.deepEqual(readInputImages({}), { initImage: Buffer.alloc(0), mask: Buffer.alloc(0) });
  });

  it('names a file it cannot read, or that is not a picture it takes', () => {
    const missing = path.join(dir, 'nope.png');
    assert.throws(() => readInputImages({ initImageFile: missing }), usage(new RegExp(`^cannot read --init-image ${missing} \\(ENOENT\\)$`)));
    assert.throws(() => readInputImages({ initImageFile: dir }), usage(/^cannot read --init-image .* \(EISDIR\)$/));
    assert.throws(() => readInputImages({ initImageFile: file('notes.txt', 'hello') }), usage(/--init-image .*notes\.txt is not a PNG or JPEG file/));
    assert.throws(() => readInputImages({ initImageFile: file('ok.png', png(8, 8)), maskFile: file('mask.jpg', JPEG) }), usage(/--mask .*mask\.jpg is not a PNG file/));
  });

  it('refuses a file over the server\'s 64 MiB message limit without reading it, and two that are too big together', () => {
    assert.equal(MAX_REQUEST_BYTES, 64 * 2 ** 20);
    const huge = path.join(dir, 'huge.png');
    fs.writeFileSync(huge, png(8, 8));
    fs.truncateSync(huge, MAX_REQUEST_BYTES + 1); // sparse: no 64 MiB written
    assert.throws(() => readInputImages({ initImageFile: huge }), usage(/--init-image .*huge\.png is 64\.0 MiB; the server takes at most 64\.0 MiB in one request/));
    const half = path.join(dir, 'half.png');
    fs.writeFileSync(half, png(8, 8));
    fs.truncateSync(half, MAX_REQUEST_BYTES / 2 + 1);
    assert.throws(() => readInputImages({ initImageFile: half, maskFile: half }), usage(/--init-image and --mask are 64\.0 MiB together/));
  });
});
