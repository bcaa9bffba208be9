import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import { unaryCall, type Connection } from '../../src/client/client.js';
import { ImageGenerationRequest, UploadFileRequest, type ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { echo, grpcError } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installTinyModels } from '../helpers/tiny-models.js';

const GENERATE = '/drawthings.ImageGenerationService/GenerateImage';
const GENERATE_STREAM = '/drawthings.ImageGenerationService/GenerateImageStream';
const identity = (bytes: Buffer) => bytes;

/** A valid request's bytes with one more int64 field appended (protobuf: the last occurrence wins). */
function withInt64(message: Uint8Array, field: number, value: string): Buffer {
  const extra = new BinaryWriter().uint32((field << 3) | 0).int64(value).finish();
  return Buffer.concat([message, extra]);
}

/** Sends bytes as they are, so a test can put on the wire what the generated encoder would refuse. */
function rawUnary(c: Connection, method: string, bytes: Buffer): Promise<ServiceError | undefined> {
  return new Promise((resolve) => c.service.makeUnaryRequest(method, identity, identity, bytes, new Metadata(), { deadline: Date.now() + 30_000 }, (error) => resolve(error ?? undefined)));
}

function rawServerStream(c: Connection, method: string, bytes: Buffer): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = c.service.makeServerStreamRequest(method, identity, identity, bytes, new Metadata(), { deadline: Date.now() + 30_000 });
    call.on('data', () => {});
    call.on('error', (error: ServiceError) => resolve(error));
    call.on('end', () => resolve(undefined));
  });
}

const generate = (c: Connection, r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);

describe('GenerateImage bounds every string and number a client sends', () => {
  let t: TestServer;
  let c: Connection;
  before(async () => {
    t = await startTestServer({ defaultModel: 'tiny-sd15' });
    await installTinyModels(t.settings.modelsDir);
    c = t.client();
  });
  after(() => t.stop());

  /** No status message or log line may repeat more than a short prefix of what the client sent. */
  function assertNotEchoed(error: ServiceError, sent: string) {
    assert.ok(error.details.length < 1000, `status message of ${error.details.length} characters`);
    assert.ok(!error.details.includes(sent.slice(0, 200)), 'the status message repeats the input');
    const longest = Math.max(...t.logs.map((line) => line.length));
    assert.ok(longest < 4000, `a log line of ${longest} characters`);
    assert.ok(!t.logs.some((line) => line.includes(sent.slice(0, 200))), 'a log line repeats the input');
  }

  for (const [field, overrides, pattern] of [
    ['model', { model: 'm'.repeat(5_000_000) }, /^model: is 5000000 characters; the limit is 255/],
    ['sampler', { sampler: 's'.repeat(1_000_000) }, /^sampler: is 1000000 characters; the limit is 64/],
    ['prompt', { prompt: 'p'.repeat(2_000_000) }, /^prompt: is 2000000 characters; the limit is 10000/],
    ['negative_prompt', { negativePrompt: 'n'.repeat(2_000_000) }, /^negative_prompt: is 2000000 characters/],
  ] as const) {
    it(`refuses an over-long ${field} with INVALID_ARGUMENT, without repeating it`, async () => {
      const error = await grpcError(generate(c, request(overrides)));
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.match(error.details, pattern);
      assertNotEchoed(error, Object.values(overrides)[0]!);
    });
  }

  it('quotes only a prefix of a long unknown model name in NOT_FOUND', async () => {
    const name = `${'x'.repeat(200)}-tail`;
    const error = await grpcError(generate(c, request({ model: name })));
    assert.equal(error.code, status.NOT_FOUND, error.details);
    assert.match(error.details, /^model "x{80}"… \(205 characters\) is not installed/);
    assertNotEchoed(error, name);
  });

  it('quotes only a prefix of a long unknown sampler name', async () => {
    const error = await grpcError(generate(c, request({ sampler: 'y'.repeat(64) })));
    assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
    assert.match(error.details, /^unknown sampler "y{64}"; valid samplers: /);
  });

  it('accepts the largest seed, 2^53 − 1, for one image', async () => {
    const reply = await generate(c, request({ seed: Number.MAX_SAFE_INTEGER, steps: 1 }));
    assert.equal(reply.images.length, 1);
    assert.equal(JSON.parse(reply.info).seed, Number.MAX_SAFE_INTEGER);
  });

  it('names the largest seed a batch can start from, since image i uses seed + i', async () => {
    const error = await grpcError(generate(c, request({ seed: Number.MAX_SAFE_INTEGER, batchSize: 2 })));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.details, new RegExp(`^seed: must be -1 \\(random\\) or a whole number from 0 to ${Number.MAX_SAFE_INTEGER - 1} \\(got ${Number.MAX_SAFE_INTEGER}\\); image i uses seed \\+ i, and this request makes 2 images$`));
  });

  const valid = ImageGenerationRequest.encode(request()).finish();
  for (const [what, value, pattern] of [
    ['2^53', '9007199254740992', /^seed: 9007199254740992 is too large; the largest value accepted is 9007199254740991$/],
    ['the largest int64', '9223372036854775807', /^seed: 9223372036854775807 is too large/],
    ['the smallest int64', '-9223372036854775808', /^seed: -9223372036854775808 is too small; the smallest value accepted is -9007199254740991$/],
  ] as const) {
    it(`answers a seed of ${what} with INVALID_ARGUMENT naming the field, not INTERNAL`, async () => {
      for (const call of [rawUnary, rawServerStream]) {
        const error = await call(c, call === rawUnary ? GENERATE : GENERATE_STREAM, withInt64(valid, 7, value));
        assert.equal(error?.code, status.INVALID_ARGUMENT, error?.details);
        assert.match(error!.details, pattern);
      }
    });
  }

  it('answers bytes that are not a request with INVALID_ARGUMENT, and keeps serving', async () => {
    // Field 7 (seed) as a varint that never ends: eleven continuation bytes.
    const error = await rawUnary(c, GENERATE, Buffer.concat([valid, Buffer.from([7 << 3, ...Array(11).fill(0xff)])]));
    assert.equal(error?.code, status.INVALID_ARGUMENT, error?.details);
    assert.match(error!.details, /^seed: not a 64-bit whole number/);
    const garbage = await rawUnary(c, GENERATE, Buffer.from([0x0f, 0x01]));
    assert.equal(garbage?.code, status.INVALID_ARGUMENT, garbage?.details);
    assert.match(garbage!.details, /^the request is not a valid ImageGenerationRequest \(/);
    assert.equal((await echo(c)).message, 'HELLO');
  });

  it('answers an upload whose size is out of range with INVALID_ARGUMENT naming the field', async () => {
    const first = withInt64(UploadFileRequest.encode({ filename: 'big.bin', data: Buffer.alloc(0), sha256: '', size: 0 }).finish(), 4, '9223372036854775807');
    const error = await new Promise<ServiceError | null>((resolve) => {
      const call = c.service.makeClientStreamRequest('/drawthings.ImageGenerationService/UploadFile', identity, identity, new Metadata(), { deadline: Date.now() + 30_000 }, (e: ServiceError | null) => resolve(e));
      call.write(first);
      call.end();
    });
    assert.equal(error?.code, status.INVALID_ARGUMENT, error?.details);
    assert.match(error!.details, /^size: 9223372036854775807 is too large/);
  });
});
