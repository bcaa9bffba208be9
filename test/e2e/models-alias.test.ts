import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

describe('dts-util models alias (built binary, config.json)', () => {
  const home = tempHome();
  const models = path.join(home.home, 'models');
  const configFile = path.join(home.home, 'config.json');
  before(async () => {
    await installTinyModels(models, { sd15: 'sd15' });
    fs.mkdirSync(path.dirname(configFile), { recursive: true });
    fs.writeFileSync(configFile, JSON.stringify({ port: 7901, maxQueue: 3 }));
  });
  after(() => home.cleanup());

  const config = () => JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;

  it('sets an alias in config.json beside the other settings, lists it, and removes it', async () => {
    const set = await runCli(['models', 'alias', 'sd_v1.5_f16.ckpt', 'sd15'], home.env);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /sd_v1\.5_f16\.ckpt → sd15/);
    assert.deepEqual(config(), { port: 7901, maxQueue: 3, modelAliases: { 'sd_v1.5_f16.ckpt': 'sd15' } });
    assert.equal((fs.statSync(configFile).mode & 0o777).toString(8), '600');

    await runCli(['models', 'alias', 'tiny.ckpt', 'smoke'], home.env);
    const listed = await runCli(['models', 'alias', '--json'], home.env);
    assert.deepEqual(JSON.parse(listed.stdout).aliases, { 'sd_v1.5_f16.ckpt': 'sd15', 'tiny.ckpt': 'smoke' });

    assert.equal((await runCli(['models', 'alias', 'tiny.ckpt', '--remove'], home.env)).code, 0);
    assert.equal((await runCli(['models', 'alias', 'sd_v1.5_f16.ckpt', '--remove'], home.env)).code, 0);
    assert.deepEqual(config(), { port: 7901, maxQueue: 3 });
    assert.match((await runCli(['models', 'alias'], home.env)).stdout, /no aliases/);
  });

  it('refuses a model that is not installed, a missing model argument and an unknown alias to remove, changing nothing', async () => {
    const before = fs.readFileSync(configFile, 'utf8');
    for (const [args, message] of [
      [['models', 'alias', 'x.ckpt', 'nope'], /no model named nope/],
      [['models', 'alias', 'x.ckpt'], /which model should x\.ckpt mean/],
      [['models', 'alias', 'x.ckpt', '--remove'], /there is no alias x\.ckpt/],
    ] as const) {
      const result = await runCli([...args], home.env);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    }
    assert.equal(fs.readFileSync(configFile, 'utf8'), before);
  });
});
