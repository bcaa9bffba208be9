import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BIN, oneLine, runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

/** Runs the CLI on a pseudo-terminal (util-linux `script`), typing `input` into it. */
function onTerminal(args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stdin.write(input);
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('dts-util models rm and models verify (built binary, local models directory)', () => {
  const home = tempHome();
  const models = path.join(home.home, 'models');
  before(async () => {
    await installTinyModels(models, { sd15: 'keep' });
    fs.cpSync(path.join(models, 'keep'), path.join(models, 'doomed'), { recursive: true });
    fs.cpSync(path.join(models, 'keep'), path.join(models, 'broken'), { recursive: true });
    const unet = path.join(models, 'broken', 'unet', 'model.onnx');
    fs.truncateSync(unet, 1000);
  });
  after(() => home.cleanup());

  it('verify --json: a sound model exits 0, a truncated UNet exits 1 and names the unet part', async () => {
    const good = await runCli(['models', 'verify', 'keep', '--json'], home.env);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(JSON.parse(good.stdout).ok, true);
    const bad = await runCli(['models', 'verify', 'broken', '--json'], home.env);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual(report.parts.filter((p: { ok: boolean }) => !p.ok).map((p: { part: string }) => p.part), ['unet']);
    const text = await runCli(['models', 'verify', 'broken'], home.env);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /FAIL {2}unet: unet\/model.onnx cannot be loaded by ONNX Runtime/);
    assert.match(text.stdout, /ok {4}vae_decoder/);
    assert.match(text.stdout, /ok {4}vae_encoder/);
  });

  it('verify: a model without a VAE encoder is sound (exit 0) with a note that img2img and inpainting are unavailable', async () => {
    const plain = path.join(models, 'plain');
    fs.cpSync(path.join(models, 'keep'), plain, { recursive: true });
    fs.rmSync(path.join(plain, 'vae_encoder'), { recursive: true });
    try {
      const text = await runCli(['models', 'verify', 'plain'], home.env);
      assert.equal(text.code, 0, text.stdout + text.stderr);
      assert.match(text.stdout, /^note {2}no vae_encoder: img2img and inpainting unavailable$/m);
      assert.match(text.stdout, /plain is sound \(sd1\)/);
      const json = await runCli(['models', 'verify', 'plain', '--json'], home.env);
      assert.deepEqual([JSON.parse(json.stdout).ok, JSON.parse(json.stdout).vaeEncoder], [true, false]);
    } finally {
      fs.rmSync(plain, { recursive: true });
    }
  });

  it('rm without a terminal and without --yes refuses, removes nothing, and says to pass --yes (exit 2)', async () => {
    const { code, stderr } = await runCli(['models', 'rm', 'doomed'], home.env);
    assert.equal(code, 2);
    assert.match(oneLine(stderr), /no terminal to ask on.*--yes/);
    assert.ok(fs.existsSync(path.join(models, 'doomed', 'model_index.json')));
  });

  it('rm --yes removes the folder and nothing else; --json says what went', async () => {
    const { code, stdout, stderr } = await runCli(['models', 'rm', 'doomed', '--yes', '--json'], home.env);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.name, 'doomed');
    assert.ok(result.bytes > 0);
    assert.deepEqual(fs.readdirSync(models).sort(), ['broken', 'keep']);
  });

  it('rm on a terminal asks first: "n" keeps the model, "y" removes it', async () => {
    fs.cpSync(path.join(models, 'keep'), path.join(models, 'asked'), { recursive: true });
    const no = await onTerminal(['models', 'rm', 'asked'], 'n\n', home.env);
    assert.match(no.output, /Remove the model asked \([\d.]+ MiB\) from .* \[y\/N\]/);
    assert.match(no.output, /nothing removed/);
    assert.equal(no.code, 1);
    assert.ok(fs.existsSync(path.join(models, 'asked', 'model_index.json')));
    const yes = await onTerminal(['models', 'rm', 'asked'], 'y\n', home.env);
    assert.equal(yes.code, 0, yes.output);
    assert.match(yes.output, /removed asked/);
    assert.ok(!fs.existsSync(path.join(models, 'asked')));
  });

  it('rm of a name that is only an interrupted pull removes its staging folder', async () => {
    fs.mkdirSync(path.join(models, '.halfway.partial', 'unet'), { recursive: true });
    fs.writeFileSync(path.join(models, '.halfway.partial', 'unet', 'model.onnx.part'), 'partial bytes');
    const { code, stderr } = await runCli(['models', 'rm', 'halfway', '--yes'], home.env);
    assert.equal(code, 0, stderr);
    assert.ok(!fs.existsSync(path.join(models, '.halfway.partial')));
  });

  it('rm of an unknown name lists the installed models; the built-in smoke cannot be removed (exit 2)', async () => {
    const unknown = await runCli(['models', 'rm', 'nope', '-y'], home.env);
    assert.equal(unknown.code, 2);
    assert.match(oneLine(unknown.stderr), /no model named nope in .*\(installed: broken, keep, smoke\)/);
    const smoke = await runCli(['models', 'rm', 'smoke', '-y', '--json'], home.env);
    assert.equal(smoke.code, 2);
    assert.match(JSON.parse(smoke.stdout).error.message, /smoke is built into dts-util and cannot be removed/);
  });
});
