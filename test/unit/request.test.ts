import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULTS, InvalidRequestError, UnsupportedRequestError, validateRequest } from '../../src/diffusion/request.js';
import { request } from '../helpers/requests.js';

describe('GenerateImage request validation', () => {
  it('fills the defaults a client gets by leaving fields at zero', () => {
    const p = validateRequest(request({ width: 0, height: 0, steps: 0, cfgScale: 0, batchSize: 0, batchCount: 0, sampler: '' }));
    assert.deepEqual([p.width, p.height, p.steps, p.cfgScale, p.batchSize, p.batchCount], [512, 512, DEFAULTS.steps, DEFAULTS.cfgScale, 1, 1]);
  });

  it('keeps seed 0 and turns -1 into a reported random seed', () => {
    assert.equal(validateRequest(request({ seed: 0 })).seed, 0);
    const random = validateRequest(request({ seed: -1 }));
    assert.ok(random.seedWasRandom);
    assert.ok(random.seed >= 0 && random.seed < 2 ** 32);
  });

  it('defaults the hires-fix strength to 0.7 only when the hires fix is on', () => {
    assert.equal(validateRequest(request({ enableHr: true })).denoisingStrength, 0.7);
    assert.equal(validateRequest(request({ enableHr: true, denoisingStrength: 0.4 })).denoisingStrength, 0.4);
  });

  for (const [field, overrides] of [
    ['width', { width: 100 }],
    ['width', { width: 56 }],
    ['height', { height: 2056 }],
    ['steps', { steps: 151 }],
    ['steps', { steps: -1 }],
    ['cfg_scale', { cfgScale: 31 }],
    ['cfg_scale', { cfgScale: -1 }],
    ['cfg_scale', { cfgScale: Number.NaN }],
    ['batch_size', { batchSize: 9 }],
    ['batch_count', { batchCount: 101 }],
    ['denoising_strength', { denoisingStrength: 1.5 }],
    ['seed', { seed: -2 }],
    ['prompt', { prompt: 'x'.repeat(10_001) }],
    ['negative_prompt', { negativePrompt: 'x'.repeat(10_001) }],
    ['enable_hr', { enableHr: true, width: 1536 }],
  ] as const) {
    it(`refuses ${JSON.stringify(overrides).slice(0, 60)} naming ${field}`, () => {
      assert.throws(
        () => validateRequest(request(overrides)),
        (e: Error) => e instanceof InvalidRequestError && e.field === field && e.message.startsWith(`${field}: `),
      );
    });
  }

  it("takes seed_mode '' or 'default' as the default generator, 'torch-cpu' as torch's, and refuses the rest", () => {
    assert.equal(validateRequest(request()).seedMode, 'default');
    assert.equal(validateRequest(request({ seedMode: 'default' })).seedMode, 'default');
    assert.equal(validateRequest(request({ seedMode: 'torch-cpu' })).seedMode, 'torch-cpu');
    for (const bad of ['Torch-CPU', 'gpu', 'x'.repeat(10_000)]) {
      assert.throws(() => validateRequest(request({ seedMode: bad })), (error: InvalidRequestError) => error.field === 'seed_mode' && /one of "default", "torch-cpu"/.test(error.message) && error.message.length < 200);
    }
  });

  it('answers restore_faces with a clear refusal, never a silent skip', () => {
    assert.throws(() => validateRequest(request({ restoreFaces: true })), (e: Error) => e instanceof UnsupportedRequestError && /face-restoration model/.test(e.message));
  });
});
