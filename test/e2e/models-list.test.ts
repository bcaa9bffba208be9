import assert from 'node:assert/strict';
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
    await installTinyModels(path.join(home.home, 'models'), { sd15: 'tiny-sd15' });
    serve = await spawnServe([], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('prints a table with the installed model marked as default, then the built-in smoke model', async () => {
    const { code, stdout } = await runCli(['models', 'list', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stdout);
    const lines = stdout.split('\n');
    assert.match(lines[0]!, /^NAME\s+FAMILY\s+PREDICTION\s+SIZE\s+COMPLETE\s+SOURCE$/);
    assert.match(lines[1]!, /^tiny-sd15 \*\s+sd1\s+epsilon\s+[\d.]+ MiB\s+yes\s+installed$/);
    assert.match(lines[2]!, /^smoke\s+sd1\s+epsilon\s+[\d.]+ MiB\s+yes\s+built in$/);
  });

  it('--json gives every field', async () => {
    const { code, stdout } = await runCli(['models', 'list', '--json', '--port', String(serve.port)], home.env);
    assert.equal(code, 0);
    const { models } = JSON.parse(stdout);
    assert.deepEqual(models.map((m: { name: string; isDefault: boolean }) => [m.name, m.isDefault]), [['tiny-sd15', true], ['smoke', false]]);
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
