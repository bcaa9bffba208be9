import assert from 'node:assert/strict';
import { it } from 'node:test';

import { upscaleLatents2x } from '../../src/diffusion/latent-upscale.js';

it('doubles height and width per plane, keeping constants constant', () => {
  const planes = Float32Array.from([...new Array(6).fill(3), ...new Array(6).fill(-1)]); // n=1, c=2, 2×3
  const out = upscaleLatents2x(planes, [1, 2, 2, 3]);
  assert.equal(out.length, 2 * 4 * 6);
  assert.ok(out.subarray(0, 24).every((v) => v === 3));
  assert.ok(out.subarray(24).every((v) => v === -1));
});

it('interpolates bilinearly with half-pixel centres, as torch interpolate(align_corners=False)', () => {
  // One row [0, 4] → [0, 1, 3, 4]: torch gives exactly these for scale 2, bilinear, align_corners False.
  const out = upscaleLatents2x(Float32Array.from([0, 4]), [1, 1, 1, 2]);
  assert.deepEqual([...out.subarray(0, 4)], [0, 1, 3, 4]);
  assert.deepEqual([...out.subarray(4, 8)], [0, 1, 3, 4]);
});
