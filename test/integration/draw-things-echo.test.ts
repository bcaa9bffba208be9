import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import type { ImageGenerationServiceClient } from '../../src/generated/draw_things_image_service.js';
import { grpcError } from '../helpers/calls.js';
import { drawThingsClient, dtEcho, dtFilesExist } from '../helpers/draw-things-client.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'dt-field-secret-5e1b';

describe('the Draw Things app protocol (unpackaged ImageGenerationService): Echo and FilesExist', () => {
  let t: TestServer;
  let other: TestServer;
  let client: ImageGenerationServiceClient;
  before(async () => {
    t = await startTestServer({}, { DTS_UTIL_SHARED_SECRET: SECRET });
    other = await startTestServer();
    await installFamilyModels(t.settings.modelsDir, ['tiny-sdxl']);
    client = drawThingsClient(t);
  });
  after(async () => {
    client.close();
    await t.stop();
    await other.stop();
  });

  it('Echo with the secret says HELLO <name> and offers every usable model, as files and as ModelZoo specifications', async () => {
    const reply = await dtEcho(client, { name: 'iPad', sharedSecret: SECRET });
    assert.equal(reply.message, 'HELLO iPad');
    assert.equal(reply.sharedSecretMissing, false);
    assert.deepEqual(reply.files, ['tiny-sdxl', 'smoke']);
    const models = JSON.parse(Buffer.from(reply.override!.models).toString('utf8')) as Record<string, unknown>[];
    assert.deepEqual(
      models.map((m) => [m.file, m.name, m.version, m.default_scale, m.prefix]),
      [
        ['tiny-sdxl', 'tiny-sdxl', 'sdxl_base_v0.9', 16, ''],
        // The built-in smoke model is an SD 1.x pipeline whose native size is 64 px.
        ['smoke', 'smoke', 'v1', 1, ''],
      ],
    );
  });

  it('Echo without the secret, or with a wrong one, answers OK with only sharedSecretMissing', async () => {
    for (const sharedSecret of [undefined, 'wrong', '']) {
      const reply = await dtEcho(client, { name: 'iPad', sharedSecret });
      assert.equal(reply.sharedSecretMissing, true, String(sharedSecret));
      assert.equal(reply.message, '');
      assert.deepEqual(reply.files, []);
      assert.equal(reply.override, undefined);
      assert.equal(reply.serverIdentifier, 0);
    }
  });

  it('the server identifier is set, stable across calls and different on another server', async () => {
    const first = (await dtEcho(client, { sharedSecret: SECRET })).serverIdentifier;
    const second = (await dtEcho(client, { sharedSecret: SECRET })).serverIdentifier;
    assert.ok(first > 0);
    assert.equal(second, first);
    const otherClient = drawThingsClient(other);
    try {
      const elsewhere = (await dtEcho(otherClient, {})).serverIdentifier;
      assert.ok(elsewhere > 0);
      assert.notEqual(elsewhere, first);
    } finally {
      otherClient.close();
    }
  });

  it('FilesExist answers existences in request order and raw SHA-256 hashes for filesWithHash; a bad name is just false', async () => {
    const unet = 'tiny-sdxl/unet/model.onnx';
    const files = [unet, 'tiny-sdxl', 'smoke', 'missing.ckpt', '../etc/passwd', 'tiny-sdxl/../tiny-sdxl/model_index.json', 'tiny-sdxl/model_index.json'];
    const reply = await dtFilesExist(client, { files, filesWithHash: [unet, 'missing.ckpt', 'only-in-hash-list'], sharedSecret: SECRET });
    assert.deepEqual(reply.files, files);
    assert.deepEqual(reply.existences, [true, true, true, false, false, false, true]);
    const expected = crypto.createHash('sha256').update(fs.readFileSync(path.join(t.settings.modelsDir, unet))).digest();
    assert.equal(reply.hashes.length, files.length);
    assert.deepEqual(Buffer.from(reply.hashes[0]!), expected);
    assert.equal(reply.hashes[0]!.length, 32);
    for (const hash of reply.hashes.slice(1)) assert.equal(hash.length, 0);
  });

  it('FilesExist without the right secret is UNAUTHENTICATED, and needs no metadata with it', async () => {
    for (const sharedSecret of [undefined, 'wrong']) {
      const error = await grpcError(dtFilesExist(client, { files: ['smoke'], sharedSecret }));
      assert.equal(error.code, status.UNAUTHENTICATED, error.message);
      assert.match(error.details, /sharedSecret/);
    }
  });

  it('refuses over-long inputs with INVALID_ARGUMENT, quoting only a short prefix', async () => {
    const long = 'n'.repeat(5000);
    const echo = await grpcError(dtEcho(client, { name: long, sharedSecret: SECRET }));
    assert.equal(echo.code, status.INVALID_ARGUMENT);
    assert.ok(echo.details.length < 300, echo.details);
    for (const request of [{ files: [long] }, { files: Array.from({ length: 1001 }, (_, i) => `f${i}`) }, { filesWithHash: [long] }]) {
      const error = await grpcError(dtFilesExist(client, { ...request, sharedSecret: SECRET }));
      assert.equal(error.code, status.INVALID_ARGUMENT, error.message);
      assert.ok(error.details.length < 300, error.details);
    }
  });

  it('Pubkey and Hours (the app\'s cloud proxy) answer empty replies: no key, no compute limits', async () => {
    const pubkey = await new Promise((resolve, reject) => client.pubkey({ name: 'iPad' }, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
    assert.deepEqual(pubkey, { message: '', pubkey: '' });
    const hours = await new Promise((resolve, reject) => client.hours({}, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
    assert.deepEqual(hours, { thresholds: undefined });
  });

  it('never writes the secret to the log, and logs each Draw Things call', () => {
    const all = t.logs.join('');
    assert.ok(!all.includes(SECRET));
    assert.ok(t.logs.some((line) => line.includes('"/ImageGenerationService/FilesExist"') && line.includes('UNAUTHENTICATED')));
    assert.ok(t.logs.some((line) => line.includes('"/ImageGenerationService/Echo"') && line.includes('"OK"')));
  });
});
