import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { explainConnectionFailure } from '../../src/client/explain-connection.js';
import { listModelFiles } from '../../src/models/local-files.js';
import type { TransferProgress } from '../../src/models/progress.js';
import { TransferError, uploadModel } from '../../src/models/upload-folder.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { grpcError, upload } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('models upload (library) to a real TLS server', () => {
  let t: TestServer;
  let work: string;
  let source: string;
  before(async () => {
    t = await startTestServer();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-upload-src-'));
    source = path.join(work, 'tiny');
    await buildPipeline(source, TINY_SD15, { seed: 3 });
    fs.writeFileSync(path.join(source, '.DS_Store'), 'not part of the model');
  });
  after(async () => {
    await t.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('sends every file under NAME/ with the same bytes, model_index.json last, and reports progress', async () => {
    const events: TransferProgress[] = [];
    const result = await uploadModel(t.client(), source, { as: 'copy', onProgress: (p) => events.push({ ...p }) });
    const local = listModelFiles(source);
    assert.equal(result.name, 'copy');
    assert.equal(result.filesSent, local.length);
    assert.equal(result.filesSkipped, 0);
    assert.equal(result.bytesSent, local.reduce((sum, f) => sum + f.size, 0));
    assert.deepEqual(listFiles(path.join(t.settings.modelsDir, 'copy')), local.map((f) => f.relative).sort());
    for (const f of local) assert.equal(sha(path.join(t.settings.modelsDir, 'copy', f.relative)), sha(f.local), f.relative);
    assert.ok(!local.some((f) => f.relative === '.DS_Store'), 'hidden files are not part of a model');
    const sending = events.filter((e) => e.phase === 'sending');
    const firstStart = (file: string) => sending.findIndex((e) => e.file === file);
    assert.ok(firstStart('copy/scheduler/scheduler_config.json') < firstStart('copy/unet/model.onnx'), 'small files go first');
    assert.equal(sending.at(-1)!.file, 'copy/model_index.json');
    assert.equal(sending.at(-1)!.done, result.bytesSent);
    assert.ok(sending.some((e) => e.file === 'copy/unet/model.onnx' && e.fileDone > 0 && e.fileDone < e.fileSize), 'a large file reports bytes as they go');
  });

  it('a second run sends nothing: the server has every file with the same SHA-256', async () => {
    const events: TransferProgress[] = [];
    const result = await uploadModel(t.client(), source, { as: 'copy', onProgress: (p) => events.push({ ...p }) });
    assert.equal(result.filesSent, 0);
    assert.equal(result.bytesSent, 0);
    assert.equal(result.filesSkipped, result.files.length);
    assert.ok(events.some((e) => e.phase === 'checking'), 'files of the same size are compared by hash');
  });

  it('checks a folder of more files than one FilesExist call takes (1000), in several calls', async () => {
    const many = path.join(work, 'many');
    const stored = path.join(t.settings.modelsDir, 'many');
    for (const dir of [many, stored]) {
      fs.mkdirSync(path.join(dir, 'parts'), { recursive: true });
      for (let i = 0; i < 1001; i++) fs.writeFileSync(path.join(dir, 'parts', `${i}.bin`), String(i % 10));
      fs.writeFileSync(path.join(dir, 'model_index.json'), '{}');
    }
    const result = await uploadModel(t.client(), many);
    assert.equal(result.filesSkipped, 1002, 'every file is found on the server, with its digest');
    assert.equal(result.filesSent, 0);
  });

  it('sends only what is missing or different (same size, other bytes)', async () => {
    const remote = path.join(t.settings.modelsDir, 'copy');
    fs.rmSync(path.join(remote, 'vae_decoder', 'model.onnx'));
    fs.rmSync(path.join(remote, 'model_index.json'));
    const tokenizerVocab = path.join(remote, 'tokenizer', 'vocab.json');
    const bytes = fs.readFileSync(tokenizerVocab);
    bytes[10] = bytes[10]! ^ 0xff;
    fs.writeFileSync(tokenizerVocab, bytes);
    const result = await uploadModel(t.client(), source, { as: 'copy' });
    assert.deepEqual(result.files.filter((f) => f.sent).map((f) => f.remote), ['copy/tokenizer/vocab.json', 'copy/vae_decoder/model.onnx', 'copy/model_index.json']);
    assert.equal(sha(tokenizerVocab), sha(path.join(source, 'tokenizer', 'vocab.json')));
  });

  it('an upload interrupted mid-file leaves no partial file, and a re-run sends that file and the rest only', async () => {
    const big = path.join(source, 'unet', 'model.onnx_extra');
    fs.writeFileSync(big, crypto.randomBytes(16 * 2 ** 20));
    try {
      const stop = new AbortController();
      const interrupted = uploadModel(t.client(), source, {
        as: 'resumed',
        signal: stop.signal,
        onProgress: (p) => {
          if (p.file === 'resumed/unet/model.onnx_extra' && p.fileDone >= 4 * 2 ** 20) stop.abort();
        },
      });
      await assert.rejects(interrupted, (error: Error) => error instanceof TransferError && /interrupted while sending resumed\/unet\/model.onnx_extra; run the same command again/.test(error.message));
      const onServer = listFiles(path.join(t.settings.modelsDir, 'resumed'));
      assert.ok(!onServer.includes('unet/model.onnx_extra') && !onServer.includes('model_index.json'), onServer.join(', '));
      await waitForEmpty(path.join(t.settings.modelsDir, STAGING_DIR));

      const rerun = await uploadModel(t.client(), source, { as: 'resumed' });
      // Small files went first, then unet/model.onnx, then the big one that was cut: only it and model_index.json are left.
      const sent = ['resumed/unet/model.onnx_extra', 'resumed/model_index.json'];
      assert.deepEqual(rerun.files.filter((f) => f.sent).map((f) => f.remote), sent);
      assert.deepEqual(rerun.files.filter((f) => !f.sent).map((f) => f.remote), listModelFiles(source).map((f) => `resumed/${f.relative}`).filter((f) => !sent.includes(f)));
      assert.equal(sha(path.join(t.settings.modelsDir, 'resumed', 'unet', 'model.onnx_extra')), sha(big));
    } finally {
      fs.rmSync(big);
    }
  });

  it('a file that cannot fit on the server\'s disk is refused up front, saying how much it needs (RESOURCE_EXHAUSTED)', async () => {
    const roomy = await startTestServer({ maxUploadSize: '8000TiB' });
    try {
      const error = await grpcError(upload(roomy.client(), [{ filename: 'huge/model.onnx', size: 4000 * 2 ** 40 }]));
      assert.equal(error.code, status.RESOURCE_EXHAUSTED);
      assert.match(error.details, /^the server's models directory is on a full disk: "huge\/model.onnx" needs 4096000.0 GiB and [\d.]+ [MG]iB is free; free space on the server/);
      assert.deepEqual(listFiles(roomy.settings.modelsDir), []);
    } finally {
      await roomy.stop();
    }
  });

  it('a server that wants a shared secret refuses a client without it, and the advice says how to give it', async () => {
    const guarded = await startTestServer({ sharedSecret: 'a-long-enough-shared-secret-0123456789' });
    try {
      const error = await grpcError(uploadModel(guarded.client(), source, { as: 'nope' }));
      assert.equal(error.code, status.UNAUTHENTICATED);
      assert.match(explainConnectionFailure(error, 'ca.pem'), /DTS_UTIL_SHARED_SECRET or pass --shared-secret-file/);
      const ok = await uploadModel(guarded.client({ sharedSecret: 'a-long-enough-shared-secret-0123456789' }), source, { as: 'yes' });
      assert.equal(ok.filesSkipped, 0);
      assert.deepEqual(listFiles(guarded.settings.modelsDir).filter((f) => f.startsWith('nope')), []);
    } finally {
      await guarded.stop();
    }
  });

  it('refuses a missing source and a bad model name before connecting anything', async () => {
    await assert.rejects(uploadModel(t.client(), path.join(work, 'nope')), /does not exist/);
    await assert.rejects(uploadModel(t.client(), source, { as: '../up' }), /not a usable model name/);
    const file = path.join(source, 'model_index.json');
    for (const [as, why] of [
      ['../x.onnx', /contains '\.\.'/],
      ['/abs/x.onnx', /is absolute/],
      ['sd\\unet.onnx', /separate folders with '\/'/],
      ['.dts-util-incoming/x.onnx', /reserved for uploads in progress/],
      ['sd15/unet/.model.dts-util-cuda.onnx', /reserved for the server's optimized graphs/],
    ] as const) {
      await assert.rejects(uploadModel(t.client(), file, { as }), (error: Error) => error.message.startsWith(`--as ${as} is not a name inside the models directory`) && why.test(error.message));
    }
  });
});

/** The server discards a cancelled upload's staging file a moment after the call ends. */
async function waitForEmpty(dir: string): Promise<void> {
  for (let i = 0; i < 500 && listFiles(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(listFiles(dir), []);
}
