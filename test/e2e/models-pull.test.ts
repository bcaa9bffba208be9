import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import { oneLine, runCli, spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { listFiles } from '../helpers/test-server.js';

const TOKEN = 'hf_e2e_never_printed_42';
const REPO = 'org/tiny-onnx';
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('dts-util models pull (built binary, a hub on a local HTTP server)', () => {
  const home = tempHome();
  const repoDir = path.join(home.home, 'repo');
  let hub: FakeHub;
  before(async () => {
    await buildPipeline(repoDir, TINY_SD15, { seed: 6 });
    hub = await startFakeHub(REPO, repoDir, { token: TOKEN });
  });
  after(async () => {
    await hub.close();
    home.cleanup();
  });

  it('pulls into the models directory with HF_TOKEN sent as a Bearer token and never printed', async () => {
    const { code, stdout, stderr } = await runCli(['models', 'pull', REPO, '--endpoint', hub.endpoint, '--as', 'pulled', '--json'], { ...home.env, HF_TOKEN: TOKEN });
    assert.equal(code, 0, stderr);
    assert.ok(!stdout.includes(TOKEN) && !stderr.includes(TOKEN));
    const result = JSON.parse(stdout);
    assert.equal(result.name, 'pulled');
    assert.ok(result.files.every((f: { downloaded: boolean }) => f.downloaded));
    for (const f of result.files as { path: string }[]) assert.equal(sha(path.join(home.home, 'models', 'pulled', f.path)), sha(path.join(repoDir, f.path)), f.path);
    assert.ok(result.files.some((f: { path: string }) => f.path === 'vae_encoder/model.onnx'), 'the VAE encoder comes too, for img2img and inpainting');
    assert.ok(hub.requests.filter((r) => !r.url.startsWith('/cdn/')).every((r) => r.authorization === `Bearer ${TOKEN}`));
  });

  it('honours HF_ENDPOINT; a wrong token is refused with advice that never shows the token (exit 1)', async () => {
    const wrong = `${TOKEN}_wrong`;
    const { code, stdout, stderr } = await runCli(['models', 'pull', REPO, '--as', 'denied'], { ...home.env, HF_TOKEN: wrong, HF_ENDPOINT: hub.endpoint });
    assert.equal(code, 1);
    assert.match(stderr, /HTTP 401/);
    assert.match(oneLine(stderr), /HF_TOKEN is set but cannot read it/);
    assert.ok(!stdout.includes(wrong) && !stderr.includes(wrong));
    assert.ok(!fs.existsSync(path.join(home.home, 'models', 'denied')));
  });

  it('--remote: downloads, uploads to the server and leaves no local copy', async () => {
    const serverHome = tempHome();
    const serve = await spawnServe([], serverHome.env);
    try {
      const ca = path.join(serverHome.home, 'tls', 'ca.pem');
      const local = path.join(home.home, 'client-models');
      const { code, stdout, stderr } = await runCli(['models', 'pull', REPO, '--endpoint', hub.endpoint, '--remote', '--port', String(serve.port), '--ca', ca, '--model-path', local, '--json'], { ...home.env, HF_TOKEN: TOKEN });
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout);
      assert.equal(result.upload.name, 'tiny-onnx');
      assert.equal(result.upload.filesSent, result.files.length);
      for (const f of result.files as { path: string }[]) assert.equal(sha(path.join(serverHome.home, 'models', 'tiny-onnx', f.path)), sha(path.join(repoDir, f.path)), f.path);
      assert.deepEqual(listFiles(local), []);
    } finally {
      serve.child.kill('SIGKILL');
      await serve.exited;
      serverHome.cleanup();
    }
  });
});
