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
    const committed = path.join(PACKAGE_ROOT, 'src', 'generated');
    assert.deepEqual(fs.readdirSync(committed).sort(), fs.readdirSync(fresh).sort());
    for (const file of fs.readdirSync(fresh)) {
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
