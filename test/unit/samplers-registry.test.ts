import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';

import { sampleDdim } from '../../src/diffusion/samplers/ddim.js';
import { sampleDpmpp2m } from '../../src/diffusion/samplers/dpmpp-2m.js';
import { sampleDpmpp2mSde } from '../../src/diffusion/samplers/dpmpp-2m-sde.js';
import { sampleDpmppSde } from '../../src/diffusion/samplers/dpmpp-sde.js';
import { sampleEuler } from '../../src/diffusion/samplers/euler.js';
import { sampleEulerAncestral } from '../../src/diffusion/samplers/euler-ancestral.js';
import { sampleHeun } from '../../src/diffusion/samplers/heun.js';
import { sampleLcm } from '../../src/diffusion/samplers/lcm.js';
import { normalizeSamplerName, resolveSampler, SAMPLER_NAMES, UnknownSamplerError } from '../../src/diffusion/samplers/registry.js';
import { sampleUniPc } from '../../src/diffusion/samplers/unipc.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import { karrasSigmas } from '../../src/diffusion/schedules/karras.js';
import { lcmSigmas } from '../../src/diffusion/schedules/lcm-sigmas.js';
import { ddimSigmas, modelSigmas } from '../../src/diffusion/schedules/model-sigmas.js';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';

it('lists the canonical A1111 names', () => {
  for (const name of ['Euler a', 'Euler', 'Heun', 'DDIM', 'DPM++ 2M', 'DPM++ 2M Karras', 'DPM++ 2M SDE Karras', 'DPM++ SDE Karras', 'UniPC', 'LCM']) {
    assert.ok(SAMPLER_NAMES.includes(name), name);
    assert.equal(resolveSampler(name).name, name);
  }
});

it('resolves the usual spellings, case-insensitively', () => {
  const spellings: Record<string, string[]> = {
    'Euler a': ['', '  ', 'Euler a', 'euler_a', 'k_euler_ancestral', 'k_euler_a', 'EulerA', 'euler ancestral', 'EULER-A'],
    Euler: ['euler', 'k_euler', 'EULER'],
    Heun: ['heun', 'k_heun'],
    DDIM: ['ddim', 'DDIM'],
    'DPM++ 2M': ['dpmpp_2m', 'DPM++2M', 'k_dpmpp_2m', 'dpm++ 2m'],
    'DPM++ 2M Karras': ['DPM++ 2M Karras', 'dpmpp_2m_karras', 'DPMPP2MKarras', 'k_dpmpp_2m_ka', 'dpm++_2m_karras', 'DPM++ 2M.Karras'],
    'DPM++ 2M SDE Karras': ['dpmpp_2m_sde_karras', 'DPMPP2MSDEKarras', 'k_dpmpp_2m_sde_ka', 'DPM++ 2M SDE Karras'],
    'DPM++ SDE Karras': ['DPM++ SDE Karras', 'dpmpp_sde_karras', 'DPMPPSDEKarras', 'k_dpmpp_sde_ka', 'k_dpmpp_sde_karras'],
    UniPC: ['UniPC', 'unipc', 'uni_pc', 'UNIPC'],
    LCM: ['lcm', 'k_lcm'],
  };
  for (const [canonical, names] of Object.entries(spellings)) {
    for (const name of names) assert.equal(resolveSampler(name).name, canonical, `"${name}"`);
  }
  assert.equal(normalizeSamplerName('DPM++ 2M Karras'), 'dpmpp2mkarras');
});

it('pairs each name with its update rule', () => {
  const expected: Record<string, unknown> = {
    'Euler a': sampleEulerAncestral,
    Euler: sampleEuler,
    Heun: sampleHeun,
    DDIM: sampleDdim,
    'DPM++ 2M': sampleDpmpp2m,
    'DPM++ 2M Karras': sampleDpmpp2m,
    'DPM++ 2M SDE': sampleDpmpp2mSde,
    'DPM++ 2M SDE Karras': sampleDpmpp2mSde,
    'DPM++ SDE Karras': sampleDpmppSde,
    UniPC: sampleUniPc,
    LCM: sampleLcm,
  };
  for (const [name, sample] of Object.entries(expected)) assert.equal(resolveSampler(name).sample, sample, name);
});

it('uses the schedule A1111 uses: the model’s own, Karras for “Karras” names, DDIM timesteps, the LCM grid', () => {
  const config = { steps_offset: 1, timestep_spacing: 'leading' };
  const schedule = createDiscreteSchedule(config);
  const karras = karrasSigmas(20, schedule.sigmaMin, schedule.sigmaMax);
  for (const name of ['Euler a', 'Euler', 'Heun', 'DPM++ 2M', 'DPM++ 2M SDE', 'UniPC']) assert.deepEqual(resolveSampler(name).sigmas(20, schedule, config), modelSigmas(20, schedule, config), name);
  for (const name of ['DPM++ 2M Karras', 'DPM++ 2M SDE Karras', 'DPM++ SDE Karras']) assert.deepEqual(resolveSampler(name).sigmas(20, schedule, config), karras, name);
  assert.deepEqual(resolveSampler('DDIM').sigmas(20, schedule, config), ddimSigmas(20, schedule, config));
  assert.deepEqual(resolveSampler('LCM').sigmas(20, schedule, config), lcmSigmas(20, schedule));
  // Without a spacing in the config the model's own schedule is k-diffusion's: from σ_max down to σ_min.
  const automatic = resolveSampler('Euler').sigmas(20, schedule, {});
  assert.equal(automatic[0], schedule.sigmaMax);
  assert.equal(automatic[19], schedule.sigmaMin);
});

it('rejects unknown names with an error that lists the valid ones', () => {
  assert.throws(
    () => resolveSampler('Euler b'),
    (error: unknown) => {
      assert.ok(error instanceof UnknownSamplerError);
      assert.equal(error.requested, 'Euler b');
      assert.match(error.message, /Euler b/);
      for (const name of SAMPLER_NAMES) assert.ok(error.message.includes(name), `message lacks ${name}: ${error.message}`);
      return true;
    },
  );
  assert.throws(() => resolveSampler('PLMS'), UnknownSamplerError);
});

it('lists in the README exactly the samplers the server accepts (the unknown-sampler error names them)', () => {
  const readme = fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const row = readme.split('\n').find((line) => line.startsWith('| sampler |'));
  assert.ok(row, 'the README has no sampler row');
  const listed = [...row.split(' — ')[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  assert.deepEqual(listed, SAMPLER_NAMES);
});
