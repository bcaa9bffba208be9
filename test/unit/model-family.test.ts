import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { guidanceScaleEmbedding, sdxlTimeIds } from '../../src/diffusion/conditioning.js';
import { familyDefaults, familyName, GENERIC_DEFAULTS, MODEL_FAMILIES } from '../../src/diffusion/model-family.js';
import { validateRequest } from '../../src/diffusion/request.js';
import { resolveSampler } from '../../src/diffusion/samplers/registry.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import { ddimSigmas, modelSigmas } from '../../src/diffusion/schedules/model-sigmas.js';
import { request } from '../helpers/requests.js';

describe('model families', () => {
  it('names every base × distillation, and only names in MODEL_FAMILIES', () => {
    const names = (['sd1', 'sd2', 'sdxl'] as const).flatMap((base) => (['none', 'turbo', 'lcm'] as const).map((d) => familyName(base, d)));
    assert.deepEqual(names, ['sd1', 'sd-turbo', 'lcm-sd1', 'sd2', 'sd-turbo', 'lcm-sd2', 'sdxl', 'sdxl-turbo', 'lcm-sdxl']);
    for (const name of names) assert.ok(MODEL_FAMILIES.includes(name), name);
  });

  it('defaults: SD 20 steps of Euler a at CFG 7, Turbo 1 step without guidance, LCM 4 LCM steps', () => {
    assert.deepEqual(familyDefaults('sd1', 'none'), { size: 512, steps: 20, cfgScale: 7, sampler: 'Euler a' });
    assert.deepEqual(familyDefaults('sdxl', 'none'), { size: 1024, steps: 20, cfgScale: 7, sampler: 'Euler a' });
    assert.deepEqual(familyDefaults('sdxl', 'turbo', { nativeSize: 512 }), { size: 512, steps: 1, cfgScale: 0, sampler: 'Euler a' });
    assert.deepEqual(familyDefaults('sd1', 'lcm', { guidanceEmbedded: true }), { size: 512, steps: 4, cfgScale: 8.5, sampler: 'LCM' });
    // An LCM-LoRA-style UNet (no timestep_cond) guides by CFG, best left off.
    assert.deepEqual(familyDefaults('sd1', 'lcm'), { size: 512, steps: 4, cfgScale: 1, sampler: 'LCM' });
    for (const base of ['sd1', 'sd2', 'sdxl'] as const) for (const d of ['none', 'turbo', 'lcm'] as const) resolveSampler(familyDefaults(base, d).sampler);
  });

  it('a request takes the family defaults for what it leaves at 0, and keeps what it says', () => {
    const turbo = familyDefaults('sdxl', 'turbo', { nativeSize: 512 });
    const filled = validateRequest(request({ width: 0, height: 0, steps: 0, cfgScale: 0, sampler: '' }), turbo);
    assert.deepEqual([filled.width, filled.height, filled.steps, filled.cfgScale, filled.sampler], [512, 512, 1, 0, 'Euler a']);
    const kept = validateRequest(request({ width: 64, height: 128, steps: 3, cfgScale: 2, sampler: 'DDIM' }), turbo);
    assert.deepEqual([kept.width, kept.height, kept.steps, kept.cfgScale, kept.sampler], [64, 128, 3, 2, 'DDIM']);
    assert.deepEqual(validateRequest(request({ steps: 0 })).steps, GENERIC_DEFAULTS.steps);
  });
});

describe('family conditioning values', () => {
  it("SDXL time_ids: original (h, w), crop (0, 0), target (h, w), height first", () => {
    assert.deepEqual([...sdxlTimeIds(64, 96)], [64, 96, 0, 0, 64, 96]);
  });

  it("LCM's guidance embedding: w = scale − 1, ×1000, sin then cos over exp-spaced frequencies", () => {
    // guidance 1 → w = 0: all sines 0, all cosines 1.
    assert.deepEqual([...guidanceScaleEmbedding(1, 6)], [0, 0, 0, 1, 1, 1]);
    // guidance 2 → w·1000 = 1000; width 4 → frequencies 1 and 10000^-1: angles 1000 and 0.1.
    const expected = [Math.sin(1000), Math.sin(0.1), Math.cos(1000), Math.cos(0.1)];
    guidanceScaleEmbedding(2, 4).forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) < 1e-5, `[${i}] ${value} vs ${expected[i]}`));
    // Published values of the two angles (sin/cos 1000 rad, 0.1 rad), so the formula is checked, not restated.
    assert.deepEqual([...guidanceScaleEmbedding(2, 4)].map((v) => Math.round(v * 1e5) / 1e5), [0.82688, 0.09983, 0.56238, 0.995]);
    // An odd width leaves the last entry 0, as diffusers pads it.
    const odd = guidanceScaleEmbedding(8.5, 5);
    assert.equal(odd.length, 5);
    assert.equal(odd[4], 0);
  });

  it('Turbo schedules: trailing spacing makes 1 step start at timestep 999 for every sampler family', () => {
    const schedule = createDiscreteSchedule({});
    const trailing = { timestep_spacing: 'trailing' };
    assert.deepEqual(modelSigmas(1, schedule, trailing), [schedule.sigmas[999], 0]);
    assert.deepEqual(ddimSigmas(1, schedule, trailing), [schedule.sigmas[999], 0]);
    assert.deepEqual(ddimSigmas(4, schedule, trailing), [999, 749, 499, 249].map((t) => schedule.sigmas[t]).concat(0));
    // Without it DDIM keeps its leading grid (1 step → timestep 1), as before.
    assert.deepEqual(ddimSigmas(1, schedule, {}), [schedule.sigmas[1], 0]);
    assert.equal(schedule.sigmaToTimestep(schedule.sigmas[999]!), 999);
  });
});
