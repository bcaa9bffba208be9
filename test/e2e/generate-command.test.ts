import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PNG } from 'pngjs';

import { readPngText } from '../../src/diffusion/png.js';
import { BIN, oneLine, runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { otherInstallCa, unknownCaAdvice } from '../helpers/other-ca.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

describe('dts-util generate (built binary, real TLS server, tiny model)', () => {
  const home = tempHome();
  const out = path.join(home.home, 'pictures');
  let serve: ServeProcess;
  before(async () => {
    await installTinyModels(path.join(home.home, 'models'), { sd15: 'tiny-sd15' });
    serve = await spawnServe([], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  const base = () => ['generate', 'a photo of a cat', '--port', String(serve.port), '--out', out];
  const args = (...extra: string[]) => [...base(), '--width', '64', '--height', '64', '--steps', '2', ...extra];

  it('writes the PNGs with their parameters and reports files and seeds under --json', async () => {
    const { code, stdout, stderr } = await runCli(args('--seed', '5', '--batch-size', '2', '--negative', 'blurry', '--json'), home.env);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.deepEqual(result.seeds, [5, 6]);
    assert.deepEqual(result.files.map((f: string) => path.basename(f)), ['dts-5.png', 'dts-6.png']);
    const png = fs.readFileSync(result.files[0]);
    assert.deepEqual([PNG.sync.read(png).width, PNG.sync.read(png).height], [64, 64]);
    assert.match(readPngText(png).parameters!, /^a photo of a cat\nNegative prompt: blurry\nSteps: 2, .*Seed: 5,/);
    assert.equal(result.info.sd_model_name, 'tiny-sd15');
  });

  it('never overwrites: the same seed again gets a new name', async () => {
    const { code, stdout } = await runCli(args('--seed', '5'), home.env);
    assert.equal(code, 0);
    assert.match(stdout, /dts-5-1\.png {2}\(seed 5\)/);
    assert.ok(fs.existsSync(path.join(out, 'dts-5.png')) && fs.existsSync(path.join(out, 'dts-5-1.png')));
  });

  it('explains a bad request (exit 1) with the server message', async () => {
    const { code, stderr } = await runCli(args('--sampler', 'Warp Drive'), home.env);
    assert.equal(code, 1);
    assert.match(oneLine(stderr), /INVALID_ARGUMENT.*Euler a/);
  });

  it('refuses a flag that is not a number, or an --out that is not a folder, before calling the server (exit 2)', async () => {
    const calls = () => serve.lines.filter((l) => l.msg === 'call' && /GenerateImage/.test(String(l.method))).length;
    const before = calls();
    for (const [bad, why] of [
      [['--cfg', 'abc'], /expected a number, got "abc"/],
      [['--denoise', ''], /expected a number, got ""/],
      [['--steps', '0'], /greater than or equal to 1/],
    ] as const) {
      const { code, stderr } = await runCli([...base(), '--width', '64', '--height', '64', ...bad], home.env);
      assert.equal(code, 2, `${bad.join(' ')}: ${stderr}`);
      assert.match(oneLine(stderr), why);
    }
    // An --out that cannot be a folder is refused before the server computes anything.
    const file = path.join(home.home, 'not-a-folder');
    fs.writeFileSync(file, '');
    const notFolder = await runCli(['generate', 'a photo of a cat', '--port', String(serve.port), '-o', file, '--steps', '2'], home.env);
    assert.equal(notFolder.code, 2, notFolder.stderr);
    assert.match(oneLine(notFolder.stderr), /cannot save pictures in .*not-a-folder \(ENOTDIR\).*-o\/--out/);
    // The server answers every call with a log line; a refused flag never reached it.
    const { code } = await runCli(args('--seed', '3'), home.env);
    assert.equal(code, 0);
    await serve.waitForLine(() => calls() === before + 1);
    assert.equal(calls(), before + 1);
  });

  it('-o is --out, and decimals reach the server as numbers', async () => {
    const other = path.join(home.home, 'other');
    const { code, stdout, stderr } = await runCli(['generate', 'a photo of a cat', '--port', String(serve.port), '-o', other, '--width', '64', '--height', '64', '--steps', '2', '--seed', '11', '--cfg', '4.5', '--json'], home.env);
    assert.equal(code, 0, stderr);
    const { files } = JSON.parse(stdout);
    assert.equal(path.dirname(files[0]), other);
    assert.match(readPngText(fs.readFileSync(files[0])).parameters!, /CFG scale: 4\.5/);
  });

  it('--help shows no default of 0 for the fields the model family fills in', async () => {
    const { code, stdout } = await runCli(['generate', '--help'], home.env);
    assert.equal(code, 0);
    for (const flag of ['width', 'height', 'steps', 'cfg', 'denoise', 'mask-blur']) {
      const line = stdout.match(new RegExp(`--${flag}=<value>[^-]*`))![0];
      assert.doesNotMatch(line, /\[default: 0\]/, line);
    }
  });

  it("says which --ca to use when the server's certificate chains to another CA (exit 1)", async () => {
    const otherCa = otherInstallCa(home.home);
    const { code, stderr } = await runCli([...base(), '--ca', otherCa], home.env);
    assert.equal(code, 1);
    assert.ok(oneLine(stderr).includes(unknownCaAdvice(otherCa)), stderr);
  });

  it('Ctrl-C cancels the job on the server (exit 130), and the server is free for the next one', async () => {
    const child = spawn(process.execPath, [BIN, ...base(), '--steps', '150', '--width', '512', '--height', '512', '--json'], { env: { ...process.env, ...home.env }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Interrupted a moment into the job (150 steps at 512² take far longer on the tiny model).
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    await serve.waitForLine((l) => l.msg === 'call' && l.code === 'CANCELLED' && /GenerateImageStream$/.test(String(l.method)));
    const next = await runCli(args('--seed', '9', '--json'), home.env);
    assert.equal(next.code, 0, next.stderr);
  });
});

describe('dts-util generate --init-image, --mask, --denoise, --mask-blur: refused before connecting (built binary, no server)', () => {
  const home = tempHome();
  after(() => home.cleanup());
  const picture = path.join(home.home, 'cat.png');
  const text = path.join(home.home, 'notes.txt');
  const huge = path.join(home.home, 'huge.png');
  before(() => {
    fs.writeFileSync(picture, PNG.sync.write(new PNG({ width: 8, height: 8 })));
    fs.writeFileSync(text, 'not a picture');
    fs.writeFileSync(huge, fs.readFileSync(picture));
    fs.truncateSync(huge, 64 * 2 ** 20 + 1); // sparse
  });
  // Port 1: nothing listens there, so a flag that got as far as connecting would exit 1, not 2.
  const generate = (...extra: string[]) => runCli(['generate', 'a cat', '--port', '1', '--out', path.join(home.home, 'out'), ...extra], home.env);

  it('each bad flag or file exits 2 with a message naming it', async () => {
    const missing = path.join(home.home, 'missing.png');
    for (const [bad, why] of [
      [['--mask', picture], /--mask needs --init-image/],
      [['--init-image', picture, '--mask-blur', '4'], /--mask-blur needs --mask/],
      [['--init-image', picture, '--denoise', '1.5'], /--denoise must be from 0 to 1, got 1\.5/],
      [['--init-image', picture, '--denoise', '-0.5'], /--denoise must be from 0 to 1, got -0\.5/],
      [['--init-image', picture, '--denoise', 'lots'], /expected a number, got "lots"/],
      [['--init-image', picture, '--mask', picture, '--mask-blur', '-1'], /greater than or equal to 0/],
      [['--init-image', picture, '--mask', picture, '--mask-blur', '2.5'], /integer/],
      [['--init-image', missing], new RegExp(`cannot read --init-image ${missing} \\(ENOENT\\)`)],
      [['--init-image', picture, '--mask', missing], new RegExp(`cannot read --mask ${missing} \\(ENOENT\\)`)],
      [['--init-image', text], /--init-image .*notes\.txt is not a PNG or JPEG file/],
      [['--init-image', huge], /--init-image .*huge\.png is 64\.0 MiB; the server takes at most 64\.0 MiB in one request/],
    ] as const) {
      const { code, stderr } = await generate(...bad);
      assert.equal(code, 2, `${bad.join(' ')}: ${stderr}`);
      assert.match(oneLine(stderr), why, bad.join(' '));
    }
  });

  it('--json gives the usage error as an object with exit code 2', async () => {
    const { code, stdout } = await generate('--mask', picture, '--json');
    assert.equal(code, 2);
    const { error } = JSON.parse(stdout);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /--mask needs --init-image/);
    assert.match(error.suggestion, /--init-image FILE/);
  });

  it('good pictures and flags get as far as connecting (exit 1: no server on port 1)', async () => {
    const { code, stderr } = await generate('--no-tls', '--init-image', picture, '--mask', picture, '--mask-blur', '0', '--denoise', '0.5');
    assert.equal(code, 1, stderr);
    assert.match(oneLine(stderr), /dts-util serve/);
  });
});
