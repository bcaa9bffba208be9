import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';
import jpeg from 'jpeg-js';
import * as ort from 'onnxruntime-node';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { decodeOwnPng, encodePng, fromRgb8, toRgb8 } from '../../src/diffusion/png.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { grpcError } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { installTinyModels } from '../helpers/tiny-models.js';

const generate = (c: Connection, r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);

/** A picture with structure (gradients and a few bars), so encoding it means something. */
function picture(width: number, height: number, shift = 0): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      rgb[i] = (x * 4 + shift) % 256;
      rgb[i + 1] = (y * 4) % 256;
      rgb[i + 2] = ((x >> 3) + (y >> 3)) % 2 ? 200 : 40;
    }
  }
  return rgb;
}
const png = (rgb: Uint8Array, width: number, height: number) => encodePng(rgb, width, height);

/** A mask that repaints a square [from, to) and keeps the rest. */
function squareMask(width: number, height: number, from: number, to: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) rgb.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  return rgb;
}

describe('img2img and inpainting through GenerateImage (tiny SD 1.x pipeline, real ONNX Runtime)', () => {
  let t: TestServer;
  let c: Connection;
  const init = png(picture(64, 64), 64, 64);
  const img2img = (overrides: Partial<ImageGenerationRequest> = {}) => request({ model: 'sd15', initImage: init, denoisingStrength: 0.5, steps: 4, width: 0, height: 0, ...overrides });
  before(async () => {
    t = await startTestServer();
    await installTinyModels(t.settings.modelsDir, { sd15: 'sd15' });
    await installFamilyModels(t.settings.modelsDir, ['tiny-sd15-inpaint']);
    fs.cpSync(path.join(t.settings.modelsDir, 'sd15'), path.join(t.settings.modelsDir, 'no-encoder'), { recursive: true });
    fs.rmSync(path.join(t.settings.modelsDir, 'no-encoder', 'vae_encoder'), { recursive: true });
    c = t.client();
  });
  after(() => t.stop());

  it('is reproducible, and depends on the picture and on the strength', async () => {
    const first = (await generate(c, img2img())).images[0]!;
    assert.ok(Buffer.from(first).equals(Buffer.from((await generate(c, img2img())).images[0]!)));
    const otherPicture = (await generate(c, img2img({ initImage: png(picture(64, 64, 90), 64, 64) }))).images[0]!;
    assert.ok(!Buffer.from(first).equals(Buffer.from(otherPicture)));
    const stronger = (await generate(c, img2img({ denoisingStrength: 0.9 }))).images[0]!;
    assert.ok(!Buffer.from(first).equals(Buffer.from(stronger)));
    const info = JSON.parse((await generate(c, img2img())).info) as Record<string, unknown>;
    assert.deepEqual([info.denoising_strength, info.init_image, info.img2img_steps, info.inpainting], [0.5, '64x64', 2, false]);
  });

  it('a strength under one step returns the picture through the VAE alone: decode(encode(picture))', async () => {
    const out = decodeOwnPng((await generate(c, img2img({ denoisingStrength: 0.1, steps: 4 }))).images[0]!);
    // The round trip computed here with ONNX Runtime directly, outside the server.
    const dir = path.join(t.settings.modelsDir, 'sd15');
    const encoder = await ort.InferenceSession.create(path.join(dir, 'vae_encoder', 'model.onnx'));
    const decoder = await ort.InferenceSession.create(path.join(dir, 'vae_decoder', 'model.onnx'));
    const latents = (await encoder.run({ sample: new ort.Tensor('float32', fromRgb8(picture(64, 64), 64, 64), [1, 3, 64, 64]) })).latent_sample!;
    const pixels = (await decoder.run({ latent_sample: latents })).sample!.data as Float32Array;
    const expected = toRgb8(pixels, 0, 64, 64);
    const worst = out.rgb.reduce((max, v, i) => Math.max(max, Math.abs(v - expected[i]!)), 0);
    assert.ok(worst <= 1, `differs from the VAE round trip by ${worst} levels`);
  });

  it('width and height left at 0 take the picture\'s size; another size is resized to the one asked for; JPEG works too', async () => {
    const wide = png(picture(96, 64), 96, 64);
    assert.deepEqual(dims(await generate(c, img2img({ initImage: wide }))), [96, 64]);
    assert.deepEqual(dims(await generate(c, img2img({ initImage: wide, width: 64, height: 64 }))), [64, 64]);
    const asJpeg = Buffer.from(jpeg.encode({ data: rgba(picture(64, 64)), width: 64, height: 64 }, 90).data);
    assert.deepEqual(dims(await generate(c, img2img({ initImage: asJpeg }))), [64, 64]);
  });

  it('inpainting repaints the masked square and keeps every pixel well outside it exactly', async () => {
    const mask = png(squareMask(64, 64, 24, 40), 64, 64);
    const out = decodeOwnPng((await generate(c, img2img({ mask, denoisingStrength: 0.9 }))).images[0]!).rgb;
    const original = picture(64, 64);
    let changedInside = 0;
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const i = (y * 64 + x) * 3;
        const distance = Math.max(24 - x, x - 39, 24 - y, y - 39);
        // Blur 4 px reaches 3σ = 12 px: beyond that the original's pixels come back as they were.
        if (distance > 12) assert.deepEqual([...out.subarray(i, i + 3)], [...original.subarray(i, i + 3)], `pixel ${x},${y}`);
        if (distance < 0 && (out[i] !== original[i] || out[i + 1] !== original[i + 1])) changedInside++;
      }
    }
    assert.ok(changedInside > 100, `only ${changedInside} pixels inside the mask changed`);
    const info = JSON.parse((await generate(c, img2img({ mask }))).info) as Record<string, unknown>;
    assert.deepEqual([info.inpainting, info.mask_blur], [true, 4]);
  });

  it('an inpainting UNet (9 channels) inpaints from the mask it is given, keeps what is outside it exactly, and also runs text to image', async () => {
    const model = 'tiny-sd15-inpaint';
    const mask = png(squareMask(64, 64, 24, 40), 64, 64);
    const withMask = (m: Buffer) => generate(c, img2img({ model, mask: m, denoisingStrength: 0.9 }));
    const first = await withMask(mask);
    const out = decodeOwnPng(first.images[0]!).rgb;
    const original = picture(64, 64);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const i = (y * 64 + x) * 3;
        if (Math.max(24 - x, x - 39, 24 - y, y - 39) > 12) assert.deepEqual([...out.subarray(i, i + 3)], [...original.subarray(i, i + 3)], `pixel ${x},${y}`);
      }
    }
    // The UNet reads the mask: another mask gives another picture inside it, the same seed the same one.
    assert.ok(Buffer.from(first.images[0]!).equals(Buffer.from((await withMask(mask)).images[0]!)));
    const other = decodeOwnPng((await withMask(png(squareMask(64, 64, 20, 44), 64, 64))).images[0]!).rgb;
    assert.ok(!Buffer.from(other).equals(Buffer.from(out)));
    assert.equal((await generate(c, request({ model }))).images.length, 1);
    const hires = await grpcError(generate(c, request({ model, enableHr: true })));
    assert.equal(hires.code, status.FAILED_PRECONDITION);
  });

  it('refuses bad input with INVALID_ARGUMENT saying what to change, before decoding anything unbounded', async () => {
    const huge = Buffer.from(png(picture(8, 8), 8, 8));
    huge.writeUInt32BE(10_000, 16); // IHDR: 10 000 × 5 000 = 50 megapixels
    huge.writeUInt32BE(5_000, 20);
    const cases: [Partial<ImageGenerationRequest>, RegExp][] = [
      [{ initImage: Buffer.from('not a picture at all') }, /init_image: is not a PNG or JPEG picture/],
      [{ initImage: huge }, /init_image: is 10000×5000 \(50\.0 megapixels\)/],
      [{ mask: png(squareMask(32, 32, 0, 8), 32, 32) }, /mask: is 32×32 but init_image is 64×64/],
      [{ initImage: Buffer.alloc(0), mask: png(squareMask(64, 64, 0, 8), 64, 64) }, /mask: a mask needs the picture it masks/],
      [{ denoisingStrength: 1.5 }, /denoising_strength: must be from 0 to 1/],
      [{ enableHr: true }, /enable_hr: .*init_image is one already/],
      [{ mask: png(squareMask(64, 64, 0, 8), 64, 64), maskBlur: 100 }, /mask_blur: must be a whole number of pixels from 0 to 64/],
    ];
    for (const [overrides, message] of cases) {
      const error = await grpcError(generate(c, img2img(overrides)));
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.match(error.details, message);
    }
  });

  it('a model without a VAE encoder answers FAILED_PRECONDITION naming what is missing', async () => {
    const error = await grpcError(generate(c, img2img({ model: 'no-encoder' })));
    assert.equal(error.code, status.FAILED_PRECONDITION);
    assert.match(error.details, /no-encoder has no vae_encoder\/model\.onnx/);
    // Text to image on it still works.
    assert.equal((await generate(c, request({ model: 'no-encoder' }))).images.length, 1);
  });
});

function dims(reply: ImageGenerationResponse): [number, number] {
  const { width, height } = decodeOwnPng(reply.images[0]!);
  return [width, height];
}

function rgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) out.set([rgb[i]!, rgb[i + 1]!, rgb[i + 2]!, 255], j);
  return out;
}
