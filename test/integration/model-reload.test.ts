import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { uploadLocalFile } from '../../src/client/upload.js';
import { BUILTIN_MODELS_DIR } from '../../src/diffusion/model-catalog.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const WEIGHTS = ['unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx'];

const generate = (c: Connection, model: string) =>
  unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ model, seed: 42, steps: 2 }), 120_000);
/** A digest of the image's pixels (its IDAT chunks), leaving out the text chunk that names the model. */
function picture(reply: ImageGenerationResponse): string {
  const png = Buffer.from(reply.images[0]!);
  const hash = crypto.createHash('sha256');
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') hash.update(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  return hash.digest('hex');
}

describe('a model whose files change on disk is reloaded for the next request (real server, real uploads)', () => {
  let t: TestServer;
  let work: string;
  before(async () => {
    t = await startTestServer();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-reload-'));
    fs.cpSync(path.join(BUILTIN_MODELS_DIR, 'smoke'), path.join(t.settings.modelsDir, 'm1'), { recursive: true });
    // Another model of the same shape: the tiny builder with another seed gives other weights.
    await buildPipeline(path.join(work, 'other'), TINY_SD15, { seed: 7 });
  });
  after(async () => {
    await t.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("after UploadFile replaces m1's weights, the same request draws with the new weights, not the cached old ones", async () => {
    const c = t.client();
    const before = await generate(c, 'm1');
    for (const file of WEIGHTS) {
      const result = await uploadLocalFile(c.service, path.join(work, 'other', file), `m1/${file}`);
      assert.ok(result.bytes > 0, file);
    }
    const after = await generate(c, 'm1');
    assert.notEqual(picture(after), picture(before), 'the old weights drew the same picture again');
    assert.ok(after.events.some((e) => /^model m1 loaded in \d+ ms on cpu \(reloaded: its files changed on disk since it was last loaded\)(; graph optimizer fused .+)?$/.test(e)), after.events.join('\n'));
    const logged = t.logs.map((line) => JSON.parse(line) as { msg: string }).filter((line) => line.msg.startsWith('model m1 loaded in '));
    assert.deepEqual(logged.map((line) => line.msg.includes('(reloaded: its files changed on disk')), [false, true], 'the server log says why it loaded m1 again');

    // The picture is the new weights' own: the same model installed whole draws the same.
    fs.cpSync(path.join(work, 'other'), path.join(t.settings.modelsDir, 'm2'), { recursive: true });
    assert.equal(picture(await generate(c, 'm2')), picture(after));
    const again = await generate(c, 'm1');
    assert.equal(picture(again), picture(after));
    assert.deepEqual(again.events.filter((e) => / loaded in /.test(e)), [], 'unchanged files: a cache hit');
  });
});
