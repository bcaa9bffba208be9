import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { listModelFiles } from '../../src/models/local-files.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { BIN, oneLine, runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { otherInstallCa, unknownCaAdvice } from '../helpers/other-ca.js';
import { tempHome } from '../helpers/temp-home.js';
import { listFiles } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** A staging file may be renamed away between the listing and the stat. */
const sizeOr0 = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;

describe('dts-util models upload (built binary, real TLS server in its own process)', () => {
  const home = tempHome();
  const source = path.join(home.home, 'src', 'tiny');
  let serve: ServeProcess;
  before(async () => {
    await buildPipeline(source, TINY_SD15, { seed: 5 });
    // Big enough that the upload is still under way when the client is killed.
    fs.writeFileSync(path.join(source, 'unet', 'big.bin'), crypto.randomBytes(32 * 2 ** 20));
    serve = await spawnServe([], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('killed mid-file, then run again: only that file and the ones after it are sent, and the model is whole', async () => {
    const staging = path.join(home.home, 'models', STAGING_DIR);
    const child = spawn(process.execPath, [BIN, 'models', 'upload', source, '--as', 'up', '--json', '--port', String(serve.port)], { env: { ...process.env, ...home.env }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Files over 1 MiB go one at a time, unet/big.bin first: kill while the server is receiving it.
    await waitUntil(() => listFiles(staging).some((f) => sizeOr0(path.join(staging, f)) > 2 ** 20), 30_000);
    child.kill('SIGKILL');
    await exited;
    assert.ok(!fs.existsSync(path.join(home.home, 'models', 'up', 'model_index.json')), 'the model is not listed until it is whole');
    assert.ok(!fs.existsSync(path.join(home.home, 'models', 'up', 'unet', 'big.bin')));

    const { code, stdout, stderr } = await runCli(['models', 'upload', source, '--as', 'up', '--json', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    // Small files go first (several at once), then the large ones in path order, model_index.json last:
    // killed during unet/big.bin, the rest is it, unet/model.onnx after it, and model_index.json.
    const sent = ['up/unet/big.bin', 'up/unet/model.onnx', 'up/model_index.json'];
    assert.deepEqual(result.files.filter((f: { sent: boolean }) => f.sent).map((f: { remote: string }) => f.remote), sent);
    assert.equal(result.filesSent, sent.length);
    assert.equal(result.filesSkipped, listModelFiles(source).length - sent.length);
    assert.ok(result.bytesSent >= 32 * 2 ** 20 && typeof result.seconds === 'number');
    for (const f of listModelFiles(source)) assert.equal(sha(path.join(home.home, 'models', 'up', f.relative)), sha(f.local), f.relative);
  });

  it('a third run sends nothing and says so in --json', async () => {
    const { code, stdout } = await runCli(['models', 'upload', source, '--as', 'up', '--json', '--port', String(serve.port)], home.env);
    assert.equal(code, 0);
    const result = JSON.parse(stdout);
    assert.equal(result.filesSent, 0);
    assert.equal(result.bytesSent, 0);
    assert.equal(result.filesSkipped, listModelFiles(source).length);
  });

  it('a single file, read by a person: one summary line in the right number', async () => {
    const single = path.join(home.home, 'notes.txt');
    fs.writeFileSync(single, 'one file');
    const { code, stdout, stderr } = await runCli(['models', 'upload', single, '--as', 'up/notes.txt', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^up\/notes\.txt: sent 1 file \(0\.0 MiB\), skipped 0 already on the server/m);
  });

  it('refuses, with exit 2 and what to do, what would lie in the models directory unseen', async () => {
    const single = path.join(home.home, 'loose.onnx');
    fs.writeFileSync(single, 'weights');
    const notAModel = path.join(home.home, 'just-a-folder');
    fs.mkdirSync(path.join(notAModel, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(notAModel, 'unet', 'model.onnx'), 'weights');
    for (const [args, pattern] of [
      [[single], /is a single file, and a file on its own is no model.*--as MODEL\/PATH, e\.g\. --as sd15\/unet\/loose\.onnx/],
      [[single, '--as', 'loose.onnx'], /--as loose\.onnx does not name a file inside a model's folder/],
      [[notAModel], /just-a-folder is not a model folder: it has no model_index\.json/],
    ] as const) {
      const { code, stderr } = await runCli(['models', 'upload', ...args, '--port', String(serve.port)], home.env);
      assert.equal(code, 2, stderr);
      assert.match(oneLine(stderr), pattern);
    }
    const server = path.join(home.home, 'models');
    assert.ok(!fs.existsSync(path.join(server, 'loose.onnx')) && !fs.existsSync(path.join(server, 'just-a-folder')), 'something reached the models directory');
    // Checked before connecting: the same answer with no server and no CA at all.
    const nowhere = await runCli(['models', 'upload', single, '--port', '1', '--ca', path.join(home.home, 'no-such-ca.pem')], home.env);
    assert.equal(nowhere.code, 2);
    assert.match(oneLine(nowhere.stderr), /is a single file, and a file on its own is no model/);
  });

  it('says how to start a server when none answers, that --tls must match, and which --ca to use (exit 1)', async () => {
    const none = await runCli(['models', 'upload', source, '--port', '1'], home.env);
    assert.equal(none.code, 1);
    assert.match(oneLine(none.stderr), /dts-util serve/);
    const plain = await runCli(['models', 'upload', source, '--no-tls', '--port', String(serve.port)], home.env);
    assert.equal(plain.code, 1);
    assert.match(oneLine(plain.stderr), /--tls\/--no-tls matches the server/);
    // Another install's CA: the certificate chains to nothing trusted, and the message says which --ca to use.
    const otherCa = otherInstallCa(home.home);
    const stranger = await runCli(['models', 'upload', source, '--ca', otherCa, '--port', String(serve.port)], home.env);
    assert.equal(stranger.code, 1);
    assert.ok(oneLine(stranger.stderr).includes(unknownCaAdvice(otherCa)), stranger.stderr);
  });
});
