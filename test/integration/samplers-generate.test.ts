/**
 * DPM++ SDE Karras and UniPC end to end on the built-in `smoke` model: through the seed contract's
 * GenerateImage and through the Draw Things app's, reproducibly, one progress event per step (not
 * per UNet call: DPM++ SDE makes two calls a step).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { decodeOwnPng, readPngText } from '../../src/diffusion/png.js';
import { SamplerType } from '../../src/generated/draw_things_config_generated.js';
import type { ImageGenerationServiceClient } from '../../src/generated/draw_things_image_service.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { decodeTensor, halfValues } from '../../src/server/draw-things/ccv-tensor.js';
import { drawThingsClient, dtGenerate, dtImages, dtRequest, type DtConfig } from '../helpers/draw-things-client.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'samplers-generate-secret-5e1c';
const STEPS = 3;
const SAMPLERS = [
  { name: 'DPM++ SDE Karras', app: SamplerType.DPMPPSDEKarras },
  { name: 'UniPC', app: SamplerType.UniPC },
] as const;

describe('DPM++ SDE Karras and UniPC generate on the smoke model', () => {
  let t: TestServer;
  let c: Connection;
  let app: ImageGenerationServiceClient;
  before(async () => {
    t = await startTestServer({}, { DTS_UTIL_SHARED_SECRET: SECRET });
    c = t.client({ sharedSecret: SECRET });
    app = drawThingsClient(t);
  });
  after(async () => {
    app.close();
    await t.stop();
  });

  const generate = (overrides: Partial<ImageGenerationRequest>) =>
    unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ model: 'smoke', steps: STEPS, ...overrides }), 120_000);
  const dtConfig = (sampler: SamplerType, seed = 42): DtConfig => ({ model: 'smoke', width: 64, height: 64, steps: STEPS, seed, guidanceScale: 7, sampler });

  for (const { name, app: type } of SAMPLERS) {
    it(`${name} over the seed contract: byte-identical PNGs for one seed, another for another, a progress event per step`, async () => {
      const a = await generate({ sampler: name, seed: 7 });
      const b = await generate({ sampler: name, seed: 7 });
      const d = await generate({ sampler: name, seed: 8 });
      assert.equal(a.images.length, 1);
      assert.deepEqual(a.images[0], b.images[0]);
      assert.notDeepEqual(decodeOwnPng(a.images[0]!).rgb, decodeOwnPng(d.images[0]!).rgb);
      assert.match(readPngText(Buffer.from(a.images[0]!)).parameters!, new RegExp(`Steps: ${STEPS}, Sampler: ${name.replaceAll('+', '\\+')}, `));
      assert.equal(JSON.parse(a.info).sampler_name, name);
      assert.equal(a.events.filter((e) => /sampling: first pass step/.test(e)).length, STEPS);
      // A different method, a different picture from the same noise.
      const euler = await generate({ sampler: 'Euler a', seed: 7 });
      assert.notDeepEqual(decodeOwnPng(a.images[0]!).rgb, decodeOwnPng(euler.images[0]!).rgb);
    });

    it(`${name} over the Draw Things contract (SamplerType ${type}): the seed contract's picture, reproducibly`, async () => {
      const picture = async (seed: number) => {
        const { responses, error } = await dtGenerate(app, dtRequest(dtConfig(type, seed), { sharedSecret: SECRET }));
        assert.equal(error, undefined, error?.details);
        return dtImages(responses)[0]!;
      };
      const first = await picture(42);
      assert.ok(first.equals(await picture(42)));
      assert.ok(!first.equals(await picture(43)));
      const seed = await generate({ sampler: name, seed: 42 });
      const rgb = Uint8Array.from(halfValues(decodeTensor(first, 2 ** 24)), (v) => Math.round((v + 1) * 127.5));
      assert.deepEqual(rgb, decodeOwnPng(seed.images[0]!).rgb);
    });
  }

  it('the app’s other DPM++ SDE and UniPC spacings are refused naming these as the nearest', async () => {
    const cases: [SamplerType, RegExp][] = [
      [SamplerType.DPMPPSDESubstep, /DPM\+\+ SDE Substep .* the nearest it runs is DPM\+\+ SDE Karras/],
      [SamplerType.DPMPPSDETrailing, /DPM\+\+ SDE Trailing .* the nearest it runs is DPM\+\+ SDE Karras/],
      [SamplerType.DPMPPSDEAYS, /DPM\+\+ SDE AYS .* the nearest it runs is DPM\+\+ SDE Karras/],
      [SamplerType.UniPCTrailing, /UniPC Trailing .* the nearest it runs is UniPC:/],
      [SamplerType.UniPCAYS, /UniPC AYS .* the nearest it runs is UniPC:/],
    ];
    for (const [type, message] of cases) {
      const { error } = await dtGenerate(app, dtRequest(dtConfig(type), { sharedSecret: SECRET }));
      assert.match(error?.details ?? '', message);
      assert.match(error!.details, /served: .*DPM\+\+ SDE Karras.*UniPC/);
    }
  });
});
