import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CorruptDownloadError, DiskFullError, InterruptedTransferError } from '../../src/models/download-file.js';
import { HubError } from '../../src/models/hub-client.js';
import type { TransferProgress } from '../../src/models/progress.js';
import { pullModel, stagingDir } from '../../src/models/pull.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { listFiles } from '../helpers/test-server.js';

const REPO = 'test-org/tiny-sd-onnx';
/** What generation needs from the repository; the rest of it must stay on the hub. */
const PIPELINE = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'text_encoder/config.json',
  'text_encoder/model.onnx',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer_config.json',
  'tokenizer/vocab.json',
  'unet/config.json',
  'unet/model.onnx',
  'vae_decoder/config.json',
  'vae_decoder/model.onnx',
  // Optional (text-to-image runs without it), fetched when there: img2img and inpainting encode with it.
  'vae_encoder/config.json',
  'vae_encoder/model.onnx',
];
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('models pull from a Hugging Face style hub (local HTTP server)', () => {
  let work: string;
  let repoDir: string;
  let modelsDir: string;
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-pull-'));
    repoDir = path.join(work, 'repo');
    await buildPipeline(repoDir, TINY_SD15, { seed: 4 });
    // What ONNX repositories carry besides the pipeline: none of it may be fetched.
    for (const [file, size] of [['unet/diffusion_pytorch_model.safetensors', 4096], ['vae_encoder/diffusion_pytorch_model.safetensors', 4096], ['safety_checker/model.onnx', 2048], ['feature_extractor/preprocessor_config.json', 10], ['README.md', 10]] as const) {
      fs.mkdirSync(path.dirname(path.join(repoDir, file)), { recursive: true });
      fs.writeFileSync(path.join(repoDir, file), crypto.randomBytes(size));
    }
    modelsDir = path.join(work, 'models');
    fs.mkdirSync(modelsDir);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('fetches exactly the pipeline files, byte for byte, with HF_TOKEN as a Bearer token and progress per file and in total', async () => {
    const hub = await startFakeHub(REPO, repoDir, { token: 'hf_secret_token' });
    try {
      const events: TransferProgress[] = [];
      const result = await pullModel({ hub: { endpoint: hub.endpoint, token: 'hf_secret_token' }, repo: REPO, revision: 'main', modelsDir, onProgress: (p) => events.push({ ...p }) });
      const dir = path.join(modelsDir, 'tiny-sd-onnx');
      assert.equal(result.dir, dir);
      assert.deepEqual(listFiles(dir), PIPELINE);
      for (const f of PIPELINE) assert.equal(sha(path.join(dir, f)), sha(path.join(repoDir, f)), f);
      assert.deepEqual(listFiles(modelsDir), PIPELINE.map((f) => `tiny-sd-onnx/${f}`).sort(), 'no staging folder is left');
      assert.ok(hub.requests.filter((r) => !r.url.startsWith('/cdn/')).every((r) => r.authorization === 'Bearer hf_secret_token'));
      assert.ok(hub.requests.some((r) => r.url === `/api/models/${REPO}/revision/main?blobs=true`));
      const unet = events.filter((e) => e.file === 'unet/model.onnx');
      assert.ok(unet.some((e) => e.fileDone > 0 && e.fileDone < e.fileSize), 'per-file progress while a file arrives');
      assert.equal(events.at(-1)!.done, events.at(-1)!.total);
      assert.equal(result.bytesDownloaded, events.at(-1)!.total);
    } finally {
      await hub.close();
    }
  });

  it('a download cut off halfway keeps its part file and no model; the re-run resumes it with a Range request', async () => {
    const hub = await startFakeHub(REPO, repoDir, { cutOnce: { path: 'unet/model.onnx', afterBytes: 3 * 2 ** 20 } });
    const options = { hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'resumed' };
    try {
      await assert.rejects(pullModel(options), (error: Error) => error instanceof InterruptedTransferError && /unet\/model.onnx was interrupted after \d+ of \d+ bytes .*run the same command again to resume/.test(error.message));
      assert.ok(!fs.existsSync(path.join(modelsDir, 'resumed')), 'no model appears before it is complete');
      const part = path.join(stagingDir(modelsDir, 'resumed'), 'unet', 'model.onnx.part');
      const kept = fs.statSync(part).size;
      assert.ok(kept > 0 && kept < fs.statSync(path.join(repoDir, 'unet', 'model.onnx')).size, `part file holds ${kept} bytes`);

      // A file an earlier run left that the hub no longer lists must not end up in the model.
      fs.mkdirSync(path.join(stagingDir(modelsDir, 'resumed'), 'unet_old'));
      fs.writeFileSync(path.join(stagingDir(modelsDir, 'resumed'), 'unet_old', 'model.onnx'), 'stale');
      const before = hub.requests.length;
      const result = await pullModel(options);
      assert.deepEqual(listFiles(path.join(modelsDir, 'resumed')), PIPELINE);
      const again = hub.requests.slice(before);
      const unet = again.filter((r) => r.url.startsWith('/cdn/') && r.range);
      assert.deepEqual(unet.map((r) => r.range), [`bytes=${kept}-`]);
      assert.ok(!again.some((r) => /resolve\/main\/(text_encoder|scheduler|tokenizer)\//.test(r.url)), 'finished files are not fetched again');
      assert.deepEqual(result.files.filter((f) => !f.downloaded).map((f) => f.path), PIPELINE.filter((f) => /^(scheduler|text_encoder|tokenizer)\/|^unet\/config.json$/.test(f)));
      for (const f of PIPELINE) assert.equal(sha(path.join(modelsDir, 'resumed', f)), sha(path.join(repoDir, f)), f);
      assert.ok(!fs.existsSync(stagingDir(modelsDir, 'resumed')));
    } finally {
      await hub.close();
    }
  });

  it('a hub that ignores the Range header (200, whole file) gets the file again from byte 0, not appended twice', async () => {
    const hub = await startFakeHub(REPO, repoDir, { cutOnce: { path: 'unet/model.onnx', afterBytes: 2 ** 20 }, ignoreRange: true });
    const options = { hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'norange' };
    try {
      await assert.rejects(pullModel(options), InterruptedTransferError);
      await pullModel(options);
      assert.ok(hub.requests.some((r) => r.url.startsWith('/cdn/') && r.range), 'the resume asked for a range');
      assert.equal(sha(path.join(modelsDir, 'norange', 'unet', 'model.onnx')), sha(path.join(repoDir, 'unet', 'model.onnx')));
    } finally {
      await hub.close();
    }
  });

  it('a corrupted file is detected by its SHA-256: the error names it, its download is deleted, no model appears', async () => {
    const hub = await startFakeHub(REPO, repoDir, { corrupt: new Set(['text_encoder/model.onnx']) });
    try {
      await assert.rejects(
        pullModel({ hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'corrupt' }),
        (error: Error) => error instanceof CorruptDownloadError && /^text_encoder\/model.onnx does not match the hub's sha256/.test(error.message),
      );
      assert.ok(!fs.existsSync(path.join(modelsDir, 'corrupt')));
      assert.ok(!fs.existsSync(path.join(stagingDir(modelsDir, 'corrupt'), 'text_encoder', 'model.onnx.part')));
      assert.ok(!fs.existsSync(path.join(stagingDir(modelsDir, 'corrupt'), 'text_encoder', 'model.onnx')));
    } finally {
      await hub.close();
    }
  });

  it('a full disk (ENOSPC) names the folder and how much was still needed', async () => {
    const hub = await startFakeHub(REPO, repoDir);
    try {
      // /dev/full answers every write with ENOSPC: a real full-disk error without filling a disk.
      const part = path.join(stagingDir(modelsDir, 'full'), 'unet', 'model.onnx.part');
      fs.mkdirSync(path.dirname(part), { recursive: true });
      fs.symlinkSync('/dev/full', part);
      await assert.rejects(
        pullModel({ hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'full' }),
        (error: Error) => error instanceof DiskFullError && error.message.includes(`the disk holding ${path.join(stagingDir(modelsDir, 'full'), 'unet')} is full while writing unet/model.onnx (`) && /\d+ more bytes/.test(error.message),
      );
      assert.ok(!fs.existsSync(path.join(modelsDir, 'full')));
    } finally {
      await hub.close();
    }
  });

  it('refuses up front a model that cannot fit on the disk, before downloading anything', async () => {
    // The listing says the UNet is 1 PiB: more than any disk here has free, so statfs must refuse it.
    const hub = await startFakeHub(REPO, repoDir, { listedSizes: new Map([['unet/model.onnx', 2 ** 50]]) });
    try {
      await assert.rejects(
        pullModel({ hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'huge' }),
        (error: Error) => error instanceof DiskFullError && error.message.startsWith(`not enough space in ${modelsDir}: the model needs 1048576.`) && /GiB is free; free some space or choose another models directory with --model-path$/.test(error.message),
      );
      assert.deepEqual(
        hub.requests.filter((r) => !r.url.startsWith('/api/')),
        [],
        'no file was requested',
      );
      assert.ok(!fs.existsSync(stagingDir(modelsDir, 'huge')), 'no staging folder is left');
      assert.ok(!fs.existsSync(path.join(modelsDir, 'huge')));
    } finally {
      await hub.close();
    }
  });

  it('a repository without a VAE encoder still pulls: text-to-image does not need one', async () => {
    const bare = path.join(work, 'repo-without-encoder');
    fs.cpSync(repoDir, bare, { recursive: true });
    fs.rmSync(path.join(bare, 'vae_encoder'), { recursive: true });
    const hub = await startFakeHub(REPO, bare);
    try {
      const result = await pullModel({ hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'no-encoder' });
      assert.deepEqual(listFiles(result.dir), PIPELINE.filter((f) => !f.startsWith('vae_encoder/')));
    } finally {
      await hub.close();
    }
  });

  it('says what to do when the hub refuses (no token), has no such repository, or cannot be reached', async () => {
    const hub = await startFakeHub(REPO, repoDir, { token: 'hf_right' });
    try {
      await assert.rejects(pullModel({ hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'x' }), (e: Error) => e instanceof HubError && /HTTP 401.*set HF_TOKEN/.test(e.message));
      await assert.rejects(pullModel({ hub: { endpoint: hub.endpoint, token: 'hf_right' }, repo: 'test-org/other', revision: 'main', modelsDir }), (e: Error) => e instanceof HubError && /test-org\/other at revision main was not found/.test(e.message));
    } finally {
      await hub.close();
    }
    await assert.rejects(pullModel({ hub: { endpoint: hub.endpoint }, repo: REPO, revision: 'main', modelsDir, as: 'x' }), (e: Error) => e instanceof HubError && e.message.startsWith(`cannot reach the hub at ${hub.endpoint} (ECONNREFUSED)`));
    await assert.rejects(pullModel({ hub: { endpoint: hub.endpoint }, repo: '../etc', revision: 'main', modelsDir }), /not a repository name/);
  });
});
