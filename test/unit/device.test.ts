import assert from 'node:assert/strict';
import { it } from 'node:test';

import { describeDevice, devicePreference } from '../../src/diffusion/device.js';

// This machine's onnxruntime-node was installed without the CUDA provider (.npmrc skips it).
it('auto uses the CPU when the CUDA provider is not installed, and says why', () => {
  assert.deepEqual(devicePreference('auto'), ['cpu']);
  assert.match(describeDevice('auto'), /^cpu \(the CUDA provider of onnxruntime-node is not installed/);
});

it('an explicit device is tried first, with the CPU as the fallback', () => {
  assert.deepEqual(devicePreference('cuda'), ['cuda', 'cpu']);
  assert.deepEqual(devicePreference('webgpu'), ['webgpu', 'cpu']);
  assert.deepEqual(devicePreference('cpu'), ['cpu']);
  assert.match(describeDevice('cuda'), /^cuda, falling back to cpu/);
});
