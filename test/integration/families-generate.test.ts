import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PNG } from 'pngjs';

import { unaryCall } from '../../src/client/client.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { buildPipeline, TINY_SDXL } from '../../tools/model-builder/pipeline.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

function pixels(image: Uint8Array): PNG {
  return PNG.sync.read(Buffer.from(image));
}

function meanAbsDifference(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe('generation on every model family, through gRPC', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({});
    await installFamilyModels(t.settings.modelsDir);
    // sample_size 16 latents = 128 px: shows the default size comes from the UNet's config.
    await buildPipeline(path.join(t.settings.modelsDir, 'tiny-sdxl-128'), { ...TINY_SDXL, name: 'tiny-sdxl-128', sampleSize: 128 }, { seed: 1 });
  });
  after(() => t.stop());

  const generate = (r: Partial<ImageGenerationRequest>) => {
    const c = t.client();
    return unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request(r), 120_000);
  };

  for (const [model, family, guidance] of [
    ['tiny-sdxl', 'sdxl', 'cfg'],
    ['tiny-sdxl-turbo', 'sdxl-turbo', 'off'],
    ['tiny-sd-turbo', 'sd-turbo', 'off'],
    ['tiny-lcm', 'lcm-sd1', 'embedded'],
    ['tiny-lcm-sdxl', 'lcm-sdxl', 'embedded'],
    ['tiny-sdxl-fp16', 'sdxl', 'cfg'],
    ['tiny-lcm-fp16', 'lcm-sd1', 'embedded'],
  ] as const) {
    it(`${model}: a ${family} image of the asked size, the same for the same seed, reporting its family`, async () => {
      const asked = { model, width: 96, height: 64, steps: 2, cfgScale: guidance === 'off' ? 0 : 7, seed: 11 };
      const a = await generate(asked);
      const b = await generate(asked);
      const info = JSON.parse(a.info);
      assert.equal(info.family, family);
      assert.equal(info.guidance, guidance);
      const png = pixels(a.images[0]!);
      assert.deepEqual([png.width, png.height], [96, 64]);
      assert.deepEqual(a.images[0], b.images[0]);
      // Not flat: NaN from a wrong fp16 conversion or a missing input would come out as one colour.
      assert.ok(new Set(png.data).size > 16);
    });
  }

  for (const model of ['tiny-sdxl', 'tiny-lcm-sdxl']) {
    it(`${model}: an image is the same alone or inside a batch, so the family inputs go to every item`, async () => {
      const asked = { model, width: 64, height: 64, steps: 2 };
      const alone = await generate({ ...asked, seed: 501 });
      const batch = await generate({ ...asked, seed: 500, batchSize: 2 });
      assert.equal(batch.images.length, 2);
      assert.deepEqual(pixels(alone.images[0]!).data, pixels(batch.images[1]!).data);
    });
  }

  it("SDXL's hires fix: the second pass at twice the size (its time_ids name the new size)", async () => {
    const reply = await generate({ model: 'tiny-sdxl', width: 64, height: 64, steps: 2, enableHr: true, denoisingStrength: 0.5 });
    const png = pixels(reply.images[0]!);
    assert.deepEqual([png.width, png.height], [128, 128]);
    assert.ok(reply.events.some((e) => /second pass of 1 steps/.test(e)), reply.events.join('\n'));
  });

  it('fills what a request leaves at 0 with the family defaults: Turbo 1 step without guidance, LCM 4 steps of LCM', async () => {
    const turbo = JSON.parse((await generate({ model: 'tiny-sd-turbo', steps: 0, cfgScale: 0, sampler: '' })).info);
    assert.deepEqual([turbo.steps, turbo.cfg_scale, turbo.sampler_name, turbo.guidance], [1, 0, 'Euler a', 'off']);
    const lcm = JSON.parse((await generate({ model: 'tiny-lcm', steps: 0, cfgScale: 0, sampler: '' })).info);
    assert.deepEqual([lcm.steps, lcm.cfg_scale, lcm.sampler_name, lcm.guidance], [4, 8.5, 'LCM', 'embedded']);
    // What a request does say wins over the family.
    const asked = JSON.parse((await generate({ model: 'tiny-lcm', steps: 2, cfgScale: 2, sampler: 'Euler' })).info);
    assert.deepEqual([asked.steps, asked.cfg_scale, asked.sampler_name], [2, 2, 'Euler']);
  });

  it("takes the default size from the UNet's sample_size (× 8), not a fixed 512", async () => {
    const info = JSON.parse((await generate({ model: 'tiny-sdxl-128', width: 0, height: 0, steps: 1 })).info);
    assert.deepEqual([info.width, info.height, info.family], [128, 128, 'sdxl']);
  });

  it('an fp16 pipeline draws the picture its fp32 twin draws (same seed, same weights rounded to half)', async () => {
    const asked = { width: 64, height: 64, steps: 2, seed: 5 };
    const fp32 = pixels((await generate({ ...asked, model: 'tiny-sdxl' })).images[0]!).data;
    const fp16 = pixels((await generate({ ...asked, model: 'tiny-sdxl-fp16' })).images[0]!).data;
    const otherSeed = pixels((await generate({ ...asked, seed: 6, model: 'tiny-sdxl' })).images[0]!).data;
    const close = meanAbsDifference(fp32, fp16);
    const far = meanAbsDifference(fp32, otherSeed);
    assert.ok(close < 2 && close * 5 < far, `fp16 vs fp32 differ by ${close.toFixed(2)}/255 on average, another seed by ${far.toFixed(2)}`);
  });
});
