import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { oneLine, runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { otherInstallCa, unknownCaAdvice } from '../helpers/other-ca.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

describe('dts-util models list (built binary, real TLS server)', () => {
  const home = tempHome();
  let serve: ServeProcess;
  before(async () => {
    const models = path.join(home.home, 'models');
    await installTinyModels(models, { sd15: 'tiny-sd15' });
    // The same model without its VAE encoder: it still draws from text, but not from a picture.
    fs.cpSync(path.join(models, 'tiny-sd15'), path.join(models, 'tiny-no-encoder'), { recursive: true });
    fs.rmSync(path.join(models, 'tiny-no-encoder', 'vae_encoder'), { recursive: true });
    serve = await spawnServe(['--default-model', 'tiny-sd15'], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('prints a table with the default marked and whether each model can run img2img (has a VAE encoder), then the built-in smoke model', async () => {
    const { code, stdout } = await runCli(['models', 'list', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stdout);
    const lines = stdout.split('\n');
    assert.match(lines[0]!, /^NAME\s+FAMILY\s+PREDICTION\s+SIZE\s+IMG2IMG\s+COMPLETE\s+SOURCE$/);
    assert.match(lines[1]!, /^tiny-no-encoder\s+sd1\s+epsilon\s+[\d.]+ MiB\s+no\s+yes\s+installed$/);
    assert.match(lines[2]!, /^tiny-sd15 \*\s+sd1\s+epsilon\s+[\d.]+ MiB\s+yes\s+yes\s+installed$/);
    assert.match(lines[3]!, /^smoke\s+sd1\s+epsilon\s+[\d.]+ MiB\s+yes\s+yes\s+built in$/);
  });

  it('--json gives every field', async () => {
    const { code, stdout } = await runCli(['models', 'list', '--json', '--port', String(serve.port)], home.env);
    assert.equal(code, 0);
    const { models } = JSON.parse(stdout);
    assert.deepEqual(models.map((m: { name: string; isDefault: boolean; parts: string[] }) => [m.name, m.isDefault, m.parts.includes('vae_encoder')]), [['tiny-no-encoder', false, false], ['tiny-sd15', true, true], ['smoke', false, true]]);
  });

  it('says how to start the server when none answers, and which --ca to use for a stranger CA (exit 1)', async () => {
    const { code, stderr } = await runCli(['models', 'list', '--port', '1'], home.env);
    assert.equal(code, 1);
    assert.match(oneLine(stderr), /dts-util serve/);
    const otherCa = otherInstallCa(home.home);
    const stranger = await runCli(['models', 'list', '--ca', otherCa, '--port', String(serve.port)], home.env);
    assert.equal(stranger.code, 1);
    assert.ok(oneLine(stranger.stderr).includes(unknownCaAdvice(otherCa)), stranger.stderr);
  });
});
