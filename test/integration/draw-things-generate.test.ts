import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { status, type ServiceError } from '@grpc/grpc-js';

import { decodeOwnPng, encodePng } from '../../src/diffusion/png.js';
import { SamplerType, SeedMode } from '../../src/generated/draw_things_config_generated.js';
import { ChunkState, type ImageGenerationResponse, type ImageGenerationServiceClient, type ImageGenerationSignpostProto } from '../../src/generated/draw_things_image_service.js';
import { writeModelAlias } from '../../src/config/model-aliases.js';
import { CCV_DATATYPE, CCV_FORMAT, decodeTensor, encodeImageTensor, halfValues } from '../../src/server/draw-things/ccv-tensor.js';
import { unaryCall } from '../../src/client/client.js';
import { drawThingsClient, dtEcho, dtFilesExist, dtGenerate, dtImages, dtRequest, type DtConfig } from '../helpers/draw-things-client.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'dt-generate-secret-91aa';
const SMALL: DtConfig = { model: 'smoke', width: 64, height: 64, steps: 2, seed: 42, guidanceScale: 7, sampler: SamplerType.EulerA };

/** A signpost as "sampling 0" or "textEncoded". */
function nameOf(signpost: ImageGenerationSignpostProto): string {
  const [name, value] = Object.entries(signpost).find(([, v]) => v !== undefined)!;
  return 'step' in (value as object) ? `${name} ${(value as { step: number }).step}` : name;
}

/** Which signpost a message carries now. */
const signpostName = (response: ImageGenerationResponse) => (response.currentSignpost ? nameOf(response.currentSignpost) : undefined);

/** A tensor's fp16 values back to the 8-bit levels they were made from. */
function levels(tensor: Buffer): { dims: number[]; rgb: Uint8Array } {
  const decoded = decodeTensor(tensor, 2 ** 24);
  return { dims: decoded.dims, rgb: Uint8Array.from(halfValues(decoded), (v) => Math.round((v + 1) * 127.5)) };
}

describe('the Draw Things app protocol: GenerateImage (FlatBuffer configuration in, fp16 tensors out)', () => {
  let t: TestServer;
  let client: ImageGenerationServiceClient;
  before(async () => {
    t = await startTestServer({}, { DTS_UTIL_SHARED_SECRET: SECRET });
    client = drawThingsClient(t);
  });
  after(async () => {
    client.close();
    await t.stop();
  });
  const generate = (config: DtConfig | Buffer, extra: Parameters<typeof dtRequest>[1] = {}) => dtGenerate(client, dtRequest(config, { sharedSecret: SECRET, ...extra }));

  it('txt2img: a signpost per stage and step, then the size, then the picture as a 68-byte-header fp16 NHWC tensor equal to the seed contract\'s PNG', async () => {
    const { responses, error } = await generate(SMALL);
    assert.equal(error, undefined);
    const progress = responses.filter((r) => r.currentSignpost);
    assert.deepEqual(progress.map(signpostName), ['textEncoded', 'sampling 0', 'sampling 1', 'imageDecoded']);
    for (const r of progress) assert.deepEqual(r.signposts.map(nameOf), ['textEncoded', 'sampling 2', 'imageDecoded']);
    const rest = responses.slice(progress.length);
    assert.equal(rest.length, 2);
    const [image] = rest[1]!.generatedImages;
    assert.equal(rest[0]!.downloadSize, image!.length);
    assert.equal(rest[1]!.chunkState, ChunkState.LAST_CHUNK);
    assert.equal(rest[1]!.scaleFactor, 1);

    assert.equal(image!.length, 68 + 64 * 64 * 3 * 2);
    assert.deepEqual([0, 1, 2, 3, 5, 6, 7, 8].map((word) => image!.readUInt32LE(word * 4)), [0, 1, CCV_FORMAT.nhwc, CCV_DATATYPE.f16, 1, 64, 64, 3]);
    const values = halfValues(decodeTensor(image!, 2 ** 20));
    assert.ok(values.every((v) => v >= -1 && v <= 1));

    // The same request on the seed contract: the same pipeline, the same picture.
    const seed = await unaryCall(t.client({ sharedSecret: SECRET }).service, t.client({ sharedSecret: SECRET }).service.generateImage, request({ model: 'smoke', steps: 2, seed: 42, cfgScale: 7, sampler: 'Euler a' }), 120_000);
    assert.deepEqual(levels(image!).rgb, decodeOwnPng(seed.images[0]!).rgb);
  });

  it('the same seed gives the same picture; another seed another', async () => {
    const picture = async (seed: number) => dtImages((await generate({ ...SMALL, seed })).responses)[0]!;
    const first = await picture(7);
    assert.ok(first.equals(await picture(7)));
    assert.ok(!first.equals(await picture(8)));
  });

  it('seed mode Torch CPU compatible is the seed contract\'s torch-cpu picture; the modes this server lacks are its default', async () => {
    const picture = async (seedMode: SeedMode) => levels(dtImages((await generate({ ...SMALL, seedMode })).responses)[0]!).rgb;
    const seedApi = t.client({ sharedSecret: SECRET });
    const seedPicture = async (seedMode: string) => decodeOwnPng((await unaryCall(seedApi.service, seedApi.service.generateImage, request({ model: 'smoke', steps: 2, seed: 42, cfgScale: 7, sampler: 'Euler a', seedMode }), 120_000)).images[0]!).rgb;
    assert.deepEqual(await picture(SeedMode.TorchCpuCompatible), await seedPicture('torch-cpu'));
    assert.deepEqual(await picture(SeedMode.ScaleAlike), await seedPicture('default'));
  });

  it('batch_size 2 gives two different pictures, and batch_count runs the batches in turn', async () => {
    const { responses, error } = await generate({ ...SMALL, batchSize: 2, batchCount: 2 });
    assert.equal(error, undefined);
    const images = dtImages(responses);
    assert.equal(images.length, 4);
    assert.equal(new Set(images.map((i) => crypto.createHash('sha256').update(i).digest('hex'))).size, 4);
    assert.equal(responses.filter((r) => signpostName(r) === 'imageDecoded').length, 2);
  });

  it('the hires fix renders the first pass at half size and refines at the full size, with second-pass signposts', async () => {
    const { responses, error } = await generate({ ...SMALL, width: 128, height: 128, steps: 4, hiresFix: { width: 64, height: 64, strength: 0.5 } });
    assert.equal(error, undefined);
    assert.deepEqual(responses.filter((r) => r.currentSignpost).map(signpostName), [
      'textEncoded',
      'sampling 0',
      'sampling 1',
      'sampling 2',
      'sampling 3',
      'secondPassImageEncoded',
      'secondPassSampling 0',
      'secondPassSampling 1',
      'secondPassImageDecoded',
    ]);
    assert.deepEqual(levels(dtImages(responses)[0]!).dims, [1, 128, 128, 3]);
    const odd = await generate({ ...SMALL, width: 192, height: 192, hiresFix: { width: 128, height: 128, strength: 0.5 } });
    assert.equal(odd.error?.code, status.INVALID_ARGUMENT);
    assert.match(odd.error!.details, /doubles the first pass, so a 192×192 picture needs a first pass of 96×96/);
  });

  it('chunked: a 1024² picture (6 MiB) goes in 4 MiB pieces, and whole to a client that did not ask for chunks', async () => {
    const big = { ...SMALL, width: 1024, height: 1024, steps: 1 };
    const chunked = await generate(big, { chunked: true });
    assert.equal(chunked.error, undefined);
    const pieces = chunked.responses.filter((r) => r.generatedImages.length > 0);
    assert.deepEqual(pieces.map((r) => [r.generatedImages[0]!.length, r.chunkState]), [[4 * 2 ** 20, ChunkState.MORE_CHUNKS], [68 + 1024 * 1024 * 6 - 4 * 2 ** 20, ChunkState.LAST_CHUNK]]);
    const whole = await generate(big);
    const [single] = whole.responses.filter((r) => r.generatedImages.length > 0);
    assert.equal(single!.chunkState, ChunkState.LAST_CHUNK);
    assert.ok(dtImages(chunked.responses)[0]!.equals(single!.generatedImages[0]!));
    assert.deepEqual(levels(single!.generatedImages[0]!).dims, [1, 1024, 1024, 3]);
  });

  it('a malformed configuration is INVALID_ARGUMENT, and the server goes on serving', async () => {
    for (const bytes of [crypto.randomBytes(64), Buffer.from([1, 2, 3]), Buffer.alloc(40, 0xff)]) {
      const { error } = await generate(bytes);
      assert.equal(error?.code, status.INVALID_ARGUMENT, error?.details);
      assert.match(error!.details, /not a FlatBuffer GenerationConfiguration/);
    }
    assert.equal((await dtEcho(client, { name: 'after', sharedSecret: SECRET })).message, 'HELLO after');
  });

  it('an empty configuration takes every default: the app\'s defaults, then the model\'s', async () => {
    const { error, responses } = await generate(Buffer.alloc(0), {});
    // No model named and none installed but the built-in one: the seed's rule answers.
    assert.equal(error?.code, status.NOT_FOUND, error?.details);
    assert.equal(responses.length, 0);
  });

  it('a sampler dts-util does not run is INVALID_ARGUMENT naming the nearest one it runs', async () => {
    const { error } = await generate({ ...SMALL, sampler: SamplerType.EulerATrailing });
    assert.equal(error?.code, status.INVALID_ARGUMENT);
    assert.match(error!.details, /Euler A Trailing \(SamplerType 10\) is not one this server runs; the nearest it runs is Euler A/);
    const unknown = await generate({ ...SMALL, sampler: 77 as SamplerType });
    assert.match(unknown.error!.details, /SamplerType 77 is not one the Draw Things app defines/);
  });

  it('what this server cannot do is refused by name, not ignored: LoRAs, CLIP skip, control hints', async () => {
    const refusals: [Promise<{ error?: ServiceError }>, RegExp][] = [
      [generate({ ...SMALL, loras: [{ file: 'add_detail.ckpt', weight: 0.8 }] }), /cannot apply LoRA \(add_detail\.ckpt\)/],
      [generate({ ...SMALL, clipSkip: 2 }), /CLIP skip 2 is not supported/],
      [generate(SMALL, { hints: [{ hintType: 'depth', tensors: [{ tensor: Buffer.alloc(68), weight: 1 }] }] }), /control hints \(depth\) need ControlNet/],
    ];
    for (const [outcome, message] of refusals) {
      const { error } = await outcome;
      assert.equal(error?.code, status.FAILED_PRECONDITION, error?.details);
      assert.match(error!.details, message);
    }
    // A LoRA at weight 0 changes nothing, so it is no reason to refuse.
    assert.equal((await generate({ ...SMALL, loras: [{ file: 'off.ckpt', weight: 0 }] })).error, undefined);
  });

  it('without the secret, or with a wrong one, GenerateImage is UNAUTHENTICATED', async () => {
    for (const sharedSecret of [undefined, 'wrong']) {
      const { error } = await dtGenerate(client, dtRequest(SMALL, { sharedSecret }));
      assert.equal(error?.code, status.UNAUTHENTICATED);
    }
  });

  it('an app file name is NOT_FOUND with how to alias it; after `models alias` it runs that model, and Echo and FilesExist offer it', async () => {
    const appFile = 'sd_v1.5_f16.ckpt';
    const missing = await generate({ ...SMALL, model: appFile });
    assert.equal(missing.error?.code, status.NOT_FOUND);
    assert.match(missing.error!.details, /dts-util models alias sd_v1\.5_f16\.ckpt MODEL/);

    writeModelAlias(t.settings.paths.configDir, appFile, 'smoke');
    const aliased = await generate({ ...SMALL, model: appFile });
    assert.equal(aliased.error, undefined);
    assert.ok(dtImages(aliased.responses)[0]!.equals(dtImages((await generate(SMALL)).responses)[0]!));
    assert.ok((await dtEcho(client, { sharedSecret: SECRET })).files.includes(appFile));
    assert.deepEqual((await dtFilesExist(client, { files: [appFile, 'other.ckpt'], sharedSecret: SECRET })).existences, [true, false]);
    writeModelAlias(t.settings.paths.configDir, appFile, undefined);
  });

  it('a client that goes away cancels its job: the worker is free for the next one', async () => {
    const call = client.generateImage(dtRequest({ ...SMALL, steps: 150, width: 512, height: 512 }, { sharedSecret: SECRET }));
    const ended = new Promise<ServiceError>((resolve) => call.on('error', resolve));
    await new Promise<void>((resolve) => call.on('data', (r: ImageGenerationResponse) => r.currentSignpost?.sampling?.step === 1 && resolve()));
    call.cancel();
    assert.equal((await ended).code, status.CANCELLED);
    assert.equal((await generate(SMALL)).error, undefined);
    assert.ok(t.server.engine.queueDepth === 0 && !t.server.engine.busy);
  });

  it('img2img from the app\'s canvas (inline or by hash from contents): the seed contract\'s picture, with the imageEncoded signpost', async () => {
    const rgb = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7) % 256);
    const canvas = encodeImageTensor(rgb, 64, 64);
    const config = { ...SMALL, steps: 4, strength: 0.5 };
    const inline = await generate(config, { image: canvas });
    assert.equal(inline.error, undefined, inline.error?.details);
    assert.deepEqual(inline.responses.filter((r) => r.currentSignpost).map(signpostName), ['textEncoded', 'imageEncoded', 'sampling 0', 'sampling 1', 'imageDecoded']);
    assert.deepEqual(inline.responses.find((r) => r.currentSignpost)!.signposts.map(nameOf), ['textEncoded', 'imageEncoded', 'sampling 2', 'imageDecoded']);
    const hash = crypto.createHash('sha256').update(canvas).digest();
    const byHash = await generate(config, { image: hash, contents: [canvas] });
    assert.ok(dtImages(byHash.responses)[0]!.equals(dtImages(inline.responses)[0]!));
    const connection = t.client({ sharedSecret: SECRET });
    const seed = await unaryCall(connection.service, connection.service.generateImage, request({ model: 'smoke', steps: 4, seed: 42, cfgScale: 7, sampler: 'Euler a', initImage: encodePng(rgb, 64, 64), denoisingStrength: 0.5 }), 120_000);
    assert.deepEqual(levels(dtImages(inline.responses)[0]!).rgb, decodeOwnPng(seed.images[0]!).rgb);

    const missing = await generate(config, { image: crypto.randomBytes(32) });
    assert.equal(missing.error?.code, status.INVALID_ARGUMENT);
    assert.match(missing.error!.details, /image: names content [0-9a-f]{64}, which the request's contents do not hold/);
  });

  it('inpainting from the app\'s mask (2 = repaint at the strength): every pixel well outside it is the canvas\'s', async () => {
    const rgb = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 13) % 256);
    const mask = Buffer.alloc(68 + 64 * 64);
    [1, 1, 0x1000].forEach((v, i) => mask.writeUInt32LE(v, 4 + 4 * i)); // CPU memory, NCHW, 8-bit
    mask.writeInt32LE(64, 20);
    mask.writeInt32LE(64, 24);
    for (let y = 24; y < 40; y++) mask.fill(2, 68 + y * 64 + 24, 68 + y * 64 + 40);
    const { responses, error } = await generate({ ...SMALL, steps: 4, strength: 0.9, maskBlur: 2 }, { image: encodeImageTensor(rgb, 64, 64), mask });
    assert.equal(error, undefined, error?.details);
    const out = levels(dtImages(responses)[0]!).rgb;
    let changed = 0;
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const i = (y * 64 + x) * 3;
        const distance = Math.max(24 - x, x - 39, 24 - y, y - 39);
        if (distance > 6) assert.deepEqual([...out.subarray(i, i + 3)], [...rgb.subarray(i, i + 3)], `pixel ${x},${y}`);
        if (distance < 0 && out[i] !== rgb[i]) changed++;
      }
    }
    assert.ok(changed > 50, `only ${changed} pixels changed inside the mask`);
  });

  it('never writes the secret to the log', () => {
    assert.ok(!t.logs.join('').includes(SECRET));
    assert.ok(t.logs.some((line) => line.includes('"/ImageGenerationService/GenerateImage"') && line.includes('"OK"')));
  });
});
