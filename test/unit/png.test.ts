import assert from 'node:assert/strict';
import { it } from 'node:test';

import { PNG } from 'pngjs';

import { decodeOwnPng, encodePng, readPngText, toRgb8 } from '../../src/diffusion/png.js';

function gradient(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7 + (i >> 5)) & 0xff;
  return rgb;
}

it('writes a PNG that an independent decoder (pngjs) reads back pixel for pixel', () => {
  const [w, h] = [37, 23];
  const rgb = gradient(w, h);
  const png = PNG.sync.read(encodePng(rgb, w, h, { parameters: 'a cat\nSteps: 20' }));
  assert.equal(png.width, w);
  assert.equal(png.height, h);
  for (let i = 0; i < w * h; i++) {
    assert.deepEqual([png.data[i * 4], png.data[i * 4 + 1], png.data[i * 4 + 2], png.data[i * 4 + 3]], [rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255], `pixel ${i}`);
  }
});

it('carries the A1111 parameters text chunk, Latin-1 as tEXt and anything else as iTXt', () => {
  const latin = encodePng(gradient(4, 4), 4, 4, { parameters: 'café, 8k\nNegative prompt: blur' });
  assert.ok(latin.includes(Buffer.from('tEXtparameters')));
  assert.equal(readPngText(latin).parameters, 'café, 8k\nNegative prompt: blur');
  const unicode = encodePng(gradient(4, 4), 4, 4, { parameters: '猫の写真 🐱' });
  assert.ok(unicode.includes(Buffer.from('iTXtparameters')));
  assert.equal(readPngText(unicode).parameters, '猫の写真 🐱');
  PNG.sync.read(unicode); // still a valid PNG (CRCs checked)
});

it('is deterministic: the same pixels give the same bytes', () => {
  assert.deepEqual(encodePng(gradient(16, 9), 16, 9, { a: 'b' }), encodePng(gradient(16, 9), 16, 9, { a: 'b' }));
});

it('maps VAE output [-1, 1] planar to 8-bit RGB with clamping and rounding', () => {
  // 2×1 image: channel planes R=[-1, 1], G=[0, 2], B=[-2, 0.5]
  const planar = Float32Array.from([-1, 1, 0, 2, -2, 0.5]);
  assert.deepEqual([...toRgb8(planar, 0, 2, 1)], [0, 128, 0, 255, 255, 191]);
});

it('reads back the pixels of its own PNGs (what the GPU parity bench compares), and refuses others', () => {
  const width = 5;
  const height = 3;
  const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + 11) % 256);
  assert.deepEqual(decodeOwnPng(encodePng(rgb, width, height, { parameters: 'x' })), { width, height, rgb });
  const other = new PNG({ width: 2, height: 2, colorType: 6 });
  assert.throws(() => decodeOwnPng(PNG.sync.write(other)), /only 8-bit RGB PNGs/);
  assert.throws(() => decodeOwnPng(Buffer.from('GIF89a')), /not a PNG/);
});
