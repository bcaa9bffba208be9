import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import { BIN } from '../helpers/cli.js';

/** Runs bin/run.js and reports how it ended, whatever the exit code. */
function runBin(nodeArgs: string[], args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeArgs, BIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Makes the process report Node.js 20 before bin/run.js looks. */
const PRETEND_NODE_20 = `data:text/javascript,${encodeURIComponent("Object.defineProperty(process.versions, 'node', { value: '20.11.1' }); Object.defineProperty(process, 'version', { value: 'v20.11.1' });")}`;

describe('bin/run.js (the dts-util entry point)', () => {
  it('refuses a Node.js older than 22 itself, with what to do, exit 2', async () => {
    const { code, stdout, stderr } = await runBin(['--import', PRETEND_NODE_20], ['--help']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /^dts-util needs Node\.js 22 or newer; this is v20\.11\.1\.\nRun it through npx/);
  });

  it('prints nothing but its answer on the Node.js it runs on (no "unrecognized flag" from the GC tuning)', async () => {
    const { code, stdout, stderr } = await runBin([], ['--version']);
    assert.equal(code, 0);
    assert.match(stdout, /dts-util\/\d+\.\d+\.\d+/);
    assert.equal(stderr, '');
  });

  it('prints nothing but its answer through npx, as the README runs it (no npm warning about .npmrc)', async () => {
    // A user's shell: none of the npm_config_* variables that `npm test` exported to this process.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile('npx', ['dts-util', '--version'], { cwd: PACKAGE_ROOT, env, timeout: 60_000 }, (error, out, err) => (error ? reject(error) : resolve({ stdout: out, stderr: err })));
    });
    assert.match(stdout, /^dts-util\/\d+\.\d+\.\d+ .* node-v24\./);
    assert.equal(stderr, '');
  });

  it('answers -v like --version, as most CLIs do', async () => {
    const { code, stdout, stderr } = await runBin([], ['-v']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^dts-util\/\d+\.\d+\.\d+ /);
  });

  it('has a help command: `help` lists the commands, `help <command>` shows its flags', async () => {
    const overview = await runBin([], ['help']);
    assert.equal(overview.code, 0, overview.stderr);
    for (const command of ['install', 'serve', 'generate', 'uninstall', 'models']) assert.match(overview.stdout, new RegExp(`^  ${command} `, 'm'));
    const install = await runBin([], ['help', 'install']);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /--dry-run/);
  });

  it("describes the models topic as a whole, not with `models list`'s summary", async () => {
    const topic = await runBin([], ['models', '--help']);
    assert.equal(topic.code, 0, topic.stderr);
    const description = topic.stdout.split('\n')[0]!;
    assert.match(description, /list.*pull.*upload.*verify.*optimize.*remove/);
    for (const command of ['list', 'pull', 'upload', 'verify', 'optimize', 'rm']) assert.match(topic.stdout, new RegExp(`^  models ${command} `, 'm'));
  });

  it("warns in --help that npx keeps --shared-secret visible in its own command line", async () => {
    for (const command of ['serve', 'test', 'generate']) {
      const help = await runBin([], [command, '--help']);
      assert.match(help.stdout.replace(/\s+/g, ' '), /visible to other users in `ps` \(through npx, npm's own process keeps it in its command line while dts-util runs\)/, command);
    }
  });
});
