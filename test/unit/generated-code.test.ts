import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { it } from 'node:test';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';

it('src/generated is what `npm run generate` makes from proto/ (regenerate and commit when this fails)', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-generate-'));
  try {
    await promisify(execFile)(path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'buf'), ['generate', '--output', out], { cwd: PACKAGE_ROOT, timeout: 60_000 });
    const fresh = path.join(out, 'src', 'generated');
    // The Draw Things configuration's reader, from Debian's flatc (flatbuffers-compiler).
    await promisify(execFile)('flatc', ['--ts', '--ts-flat-files', '-o', fresh, path.join('proto', 'draw_things_config.fbs')], { cwd: PACKAGE_ROOT, timeout: 60_000 });
    const committed = path.join(PACKAGE_ROOT, 'src', 'generated');
    // Recursive: well-known types (google/protobuf/wrappers) are generated into a folder of their own.
    const files = (dir: string) => (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
    assert.deepEqual(files(committed), files(fresh));
    for (const file of files(fresh)) {
      assert.equal(fs.readFileSync(path.join(committed, file), 'utf8'), fs.readFileSync(path.join(fresh, file), 'utf8'), `${file} is stale: run npm run generate`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

it('the contract keeps the seed API field numbers and the fixed extensions', () => {
  const proto = fs.readFileSync(path.join(PACKAGE_ROOT, 'proto', 'image_generation.proto'), 'utf8');
  assert.match(proto, /^package drawthings;$/m);
  assert.match(proto, /service ImageGenerationService \{/);
  for (const rpc of ['rpc Echo(EchoRequest) returns (EchoResponse);', 'rpc FilesExist(FilesExistRequest) returns (FilesExistResponse);', 'rpc GenerateImage(ImageGenerationRequest) returns (ImageGenerationResponse);', 'rpc UploadFile(stream UploadFileRequest) returns (UploadFileResponse);']) {
    assert.ok(proto.includes(rpc), rpc);
  }
  const seed = ['string prompt = 1;', 'string negative_prompt = 2;', 'int32 width = 3;', 'int32 height = 4;', 'int32 steps = 5;', 'float cfg_scale = 6;', 'int64 seed = 7;', 'string sampler = 8;', 'bool restore_faces = 9;', 'bool enable_hr = 10;', 'float denoising_strength = 11;', 'int32 batch_size = 12;', 'int32 batch_count = 13;', 'repeated bytes images = 1;', 'string info = 2;', 'repeated string events = 3;', 'repeated bool exists = 2;', 'repeated string errors = 3;', 'string filename = 1;', 'bytes data = 2;'];
  for (const field of [...seed, 'string model = 14;', 'string sha256 = 3;']) assert.ok(proto.includes(field), field);
});

it('the Draw Things contract is unpackaged and keeps the app\'s field numbers and types', () => {
  const proto = fs.readFileSync(path.join(PACKAGE_ROOT, 'proto', 'draw_things_image_service.proto'), 'utf8');
  assert.doesNotMatch(proto, /^package /m, 'the app serves /ImageGenerationService/<Method>: no package');
  for (const rpc of ['rpc Echo(EchoRequest) returns (EchoReply);', 'rpc FilesExist(FileListRequest) returns (FileExistenceResponse);', 'rpc UploadFile(stream FileUploadRequest) returns (stream UploadResponse);', 'rpc GenerateImage(ImageGenerationRequest) returns (stream ImageGenerationResponse);', 'rpc Pubkey(PubkeyRequest) returns (PubkeyResponse);', 'rpc Hours(HoursRequest) returns (HoursResponse);']) {
    assert.ok(proto.includes(rpc), rpc);
  }
  const fields = {
    EchoRequest: ['string name = 1;', 'optional string sharedSecret = 2;'],
    EchoReply: ['string message = 1;', 'repeated string files = 2;', 'optional MetadataOverride override = 3;', 'bool sharedSecretMissing = 4;', 'optional ComputeUnitThreshold thresholds = 5;', 'uint64 serverIdentifier = 6;'],
    MetadataOverride: ['bytes models = 1;', 'bytes loras = 2;', 'bytes controlNets = 3;', 'bytes textualInversions = 4;', 'bytes upscalers = 5;'],
    FileListRequest: ['repeated string files = 1;', 'repeated string filesWithHash = 2;', 'optional string sharedSecret = 3;'],
    FileExistenceResponse: ['repeated string files = 1;', 'repeated bool existences = 2;', 'repeated bytes hashes = 3;'],
    FileUploadRequest: ['InitUploadRequest initRequest = 1;', 'FileChunk chunk = 2;', 'optional string sharedSecret = 3;'],
    ImageGenerationRequest: ['bytes configuration = 7;', 'MetadataOverride override = 8;', 'repeated bytes contents = 12;', 'optional string sharedSecret = 13;', 'bool chunked = 14;'],
  };
  for (const [message, expected] of Object.entries(fields)) {
    const body = new RegExp(`message ${message} \\{([\\s\\S]*?)\\n\\}`).exec(proto)?.[1] ?? '';
    for (const field of expected) assert.ok(body.includes(field), `${message}: ${field}`);
  }
});

it('the Draw Things configuration schema keeps the app\'s field order (a FlatBuffer field is its slot)', () => {
  const schema = fs.readFileSync(path.join(PACKAGE_ROOT, 'proto', 'draw_things_config.fbs'), 'utf8');
  const table = /table GenerationConfiguration \{([^}]*)\}/.exec(schema)![1]!;
  const fields = [...table.matchAll(/^\s*(\w+):/gm)].map((m) => m[1]);
  const slots: Record<string, number> = { id: 0, start_width: 1, start_height: 2, seed: 3, steps: 4, guidance_scale: 5, strength: 6, model: 7, sampler: 8, batch_count: 9, batch_size: 10, hires_fix: 11, hires_fix_start_width: 12, hires_fix_start_height: 13, hires_fix_strength: 14, upscaler: 15, seed_mode: 17, clip_skip: 18, controls: 19, loras: 20, mask_blur: 21, face_restoration: 22, decode_with_attention: 23, refiner_model: 28, refiner_start: 38, preserve_original_after_inpaint: 58, cfg_zero_init_steps: 83, compression_artifacts_quality: 85 };
  for (const [name, slot] of Object.entries(slots)) assert.equal(fields.indexOf(name), slot, name);
  assert.equal(fields.length, 86);
});
