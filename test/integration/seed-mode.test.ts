import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { decodeOwnPng, readPngText } from '../../src/diffusion/png.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { grpcError } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const generate = (c: Connection, r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);
const rgb = (reply: ImageGenerationResponse) => decodeOwnPng(reply.images[0]!).rgb;

describe('seed_mode through GenerateImage (the built-in smoke model)', () => {
  let t: TestServer;
  let c: Connection;
  before(async () => {
    t = await startTestServer({ maxQueue: 1 });
    c = t.client();
  });
  after(() => t.stop());

  // Euler a draws fresh noise at every step, so the torch stream is used past the first latents.
  const base = { model: 'smoke', sampler: 'Euler a', steps: 3, seed: 42 };

  it('torch-cpu reproduces its picture, differs from the default generator for the same seed, and says so', async () => {
    const torch = await generate(c, request({ ...base, seedMode: 'torch-cpu' }));
    assert.deepEqual(rgb(await generate(c, request({ ...base, seedMode: 'torch-cpu' }))), rgb(torch));
    const byDefault = await generate(c, request(base));
    assert.notDeepEqual(rgb(byDefault), rgb(torch));
    assert.deepEqual(rgb(await generate(c, request({ ...base, seedMode: 'default' }))), rgb(byDefault), "'default' is the same as ''");

    assert.equal(JSON.parse(torch.info).seed_mode, 'torch-cpu');
    assert.equal(JSON.parse(byDefault.info).seed_mode, undefined, 'the default generator is not named');
    assert.match(readPngText(Buffer.from(torch.images[0]!)).parameters!, /, Seed: 42, .*, RNG: CPU, /);
    assert.doesNotMatch(readPngText(Buffer.from(byDefault.images[0]!)).parameters!, /RNG:/);
  });

  it('an unknown seed_mode is INVALID_ARGUMENT naming the allowed ones', async () => {
    const error = await grpcError(generate(c, request({ ...base, seedMode: 'cuda' })));
    assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
    assert.match(error.details, /^seed_mode: must be "" or one of "default", "torch-cpu" \(got "cuda"\)/);
  });
});
