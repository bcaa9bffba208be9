import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { installFamilyModels } from '../helpers/family-models.js';
import { tempHome } from '../helpers/temp-home.js';

describe('model families in the CLI (built binary, real server)', () => {
  const home = tempHome();
  const modelsDir = path.join(home.home, 'models');
  let serve: ServeProcess;
  before(async () => {
    await installFamilyModels(modelsDir, ['tiny-sdxl-turbo', 'tiny-lcm']);
    // An SDXL folder whose second encoder never arrived.
    fs.cpSync(path.join(modelsDir, 'tiny-sdxl-turbo'), path.join(modelsDir, 'half-sdxl'), { recursive: true });
    fs.rmSync(path.join(modelsDir, 'half-sdxl', 'text_encoder_2'), { recursive: true });
    serve = await spawnServe(['--default-model', 'tiny-lcm'], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('dts-util models list shows each family, and why a folder is not usable', async () => {
    const { code, stdout } = await runCli(['models', 'list', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stdout);
    const rows = stdout.split('\n');
    assert.match(rows.find((r) => r.startsWith('half-sdxl'))!, /^half-sdxl\s+sdxl\s+epsilon\s+[\d.]+ MiB\s+yes\s+no: incomplete: missing text_encoder_2\/model\.onnx \(an SDXL folder has text_encoder_2 and tokenizer_2 too\)\s+installed$/);
    assert.match(rows.find((r) => r.startsWith('tiny-lcm'))!, /^tiny-lcm \*\s+lcm-sd1\s+epsilon\s+[\d.]+ MiB\s+yes\s+yes\s+installed$/);
    assert.match(rows.find((r) => r.startsWith('tiny-sdxl-turbo'))!, /^tiny-sdxl-turbo\s+sdxl-turbo\s+/);
  });

  it("dts-util test's models check names the families and fails on the folder it cannot load", async () => {
    const { code, stdout } = await runCli(['test', '--port', String(serve.port)], home.env);
    assert.equal(code, 1, stdout);
    assert.match(stdout, /✗ models: model half-sdxl is incomplete: missing text_encoder_2\/model\.onnx/);
    const json = await runCli(['test', '--json', '--port', String(serve.port)], home.env);
    const models = (JSON.parse(json.stdout) as { checks: { name: string; models?: { name: string; family: string; loadable: boolean }[] }[] }).checks.find((c) => c.name === 'models')!.models!;
    assert.deepEqual(
      models.map((m) => [m.name, m.family, m.loadable]),
      [
        ['half-sdxl', 'sdxl', false],
        ['tiny-lcm', 'lcm-sd1', true],
        ['tiny-sdxl-turbo', 'sdxl-turbo', true],
        ['smoke', 'sd1', true],
      ],
    );
  });
});
