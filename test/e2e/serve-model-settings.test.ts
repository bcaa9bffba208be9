import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { BUILTIN_MODELS_DIR } from '../../src/diffusion/model-catalog.js';
import { spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

const warnings = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 'warn' && /model/.test(String(l.msg)));

// A mistyped setting used to start a server that looked healthy and refused every generation.
describe('serve: warnings at start about the model settings (built binary)', () => {
  const home = tempHome();
  after(() => home.cleanup());

  /** The lines a server logged at start: the warnings come between the listening line and the device lines. */
  async function startAndCollect(args: string[]): Promise<Record<string, unknown>[]> {
    const serve = await spawnServe(args, home.env);
    try {
      await serve.waitForLine((l) => l.msg === 'device chosen');
      return serve.lines;
    } finally {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
  }

  it('a --model-path that does not exist: the server starts, and warns that it created the folder empty', async () => {
    const typo = path.join(home.home, 'modles');
    const lines = await startAndCollect(['--model-path', typo]);
    assert.ok(lines.some((l) => l.msg === 'dts-util server listening'), 'it still starts');
    const [warning, ...more] = warnings(lines);
    assert.match(String(warning!.msg), /^the models directory did not exist, so it was created empty: if that is not the folder you meant, fix --model-path \(DTS_UTIL_MODEL_PATH, modelPath in config.json\); else install one with `dts-util models pull REPO`/);
    assert.equal(warning!.modelsDir, typo);
    assert.deepEqual(more, []);
  });

  it('an unknown --default-model: warned, naming the setting and what is installed', async () => {
    const modelsDir = path.join(home.home, 'models-one');
    fs.cpSync(path.join(BUILTIN_MODELS_DIR, 'smoke'), path.join(modelsDir, 'mine'), { recursive: true });
    const lines = await startAndCollect(['--model-path', modelsDir, '--default-model', 'mnie']);
    const found = warnings(lines);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.match(String(found[0]!.msg), /^the default model "mnie" is not installed, so requests that name no model will fail: fix --default-model \(DTS_UTIL_DEFAULT_MODEL, defaultModel in config.json\)/);
    assert.deepEqual(found[0]!.installed, ['mine']);
  });

  it('an existing folder with no model in it: warned; a folder with the default model installed: no warning', async () => {
    const empty = path.join(home.home, 'empty');
    fs.mkdirSync(empty);
    assert.match(String(warnings(await startAndCollect(['--model-path', empty]))[0]!.msg), /^no model is installed in the models directory \(only the built-in "smoke" works\)/);

    const modelsDir = path.join(home.home, 'models-one');
    assert.deepEqual(warnings(await startAndCollect(['--model-path', modelsDir, '--default-model', 'mine'])), []);
  });
});
