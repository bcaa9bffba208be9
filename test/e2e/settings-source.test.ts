import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { runCli, spawnServe } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { tempHome } from '../helpers/temp-home.js';

/*
 * A command that picks up an install's config.json without being pointed at it says so: after an
 * install, a plain `dts-util test` or `serve` uses that install's port, TLS and secret.
 */
describe("commands say which install's settings they use (built binary)", () => {
  const home = tempHome();
  // This user's platform folders, no DTS_UTIL_HOME: as a user runs it after `dts-util install`.
  const env = { HOME: home.home, DTS_UTIL_HOME: '', XDG_CONFIG_HOME: path.join(home.home, 'config'), XDG_DATA_HOME: path.join(home.home, 'data'), XDG_STATE_HOME: path.join(home.home, 'state') };
  const file = path.join(home.home, 'config', 'dts-util', 'config.json');
  after(() => home.cleanup());

  it('test names the config.json it read, on stderr, and --json output stays JSON', async () => {
    const port = await freePort();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ port, tls: false }));
    const { code, stdout, stderr } = await runCli(['test', '--json', '--timeout', '2'], env);
    assert.equal(code, 1, stdout);
    assert.equal(JSON.parse(stdout).address, `127.0.0.1:${port}`);
    assert.equal(stderr, `dts-util: using the settings in ${file} (this user's install); flags and DTS_UTIL_* variables override them, DTS_UTIL_HOME=DIR uses another folder\n`);
  });

  it('serve logs the settings file it started from', async () => {
    const serve = await spawnServe(['--port', '0'], env);
    try {
      const listening = serve.lines.find((line) => line.msg === 'dts-util server listening')!;
      assert.equal(listening.settingsFile, file);
    } finally {
      serve.child.kill('SIGKILL');
    }
  });

  it('says nothing when DTS_UTIL_HOME chose the folder, or when there is no config.json', async () => {
    const chosen = tempHome();
    try {
      fs.writeFileSync(path.join(chosen.home, 'config.json'), JSON.stringify({ port: await freePort(), tls: false }));
      assert.equal((await runCli(['test', '--json', '--timeout', '2'], chosen.env)).stderr, '');
      fs.rmSync(file);
      assert.equal((await runCli(['test', '--json', '--timeout', '2', '--port', String(await freePort())], env)).stderr, '');
    } finally {
      chosen.cleanup();
    }
  });
});
