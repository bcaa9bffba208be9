import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

/*
 * journald cannot run here, so a stand-in journalctl on PATH prints what the journal would hold
 * for the unit (the server's JSON lines among systemd's own) and records how it was called.
 */
describe('dts-util logs (built binary, a stand-in journalctl)', () => {
  const home = tempHome();
  const bin = path.join(home.home, 'bin');
  const calls = path.join(home.home, 'journalctl-args');
  fs.mkdirSync(bin);
  const serverLine = JSON.stringify({ level: 'info', msg: 'listening', port: 7859 });
  fs.writeFileSync(path.join(bin, 'journalctl'), `#!/bin/sh\necho "$@" >> '${calls}'\necho 'Started dts-util.service.'\necho '${serverLine}'\necho '{not json'\n`, { mode: 0o755 });
  const env = { ...home.env, PATH: `${bin}:${process.env.PATH}` };
  after(() => home.cleanup());

  it('--json prints one JSON object per line: the server\'s lines as they are, others wrapped', async () => {
    const { code, stdout, stderr } = await runCli(['logs', '--json', '--service-manager', 'systemd', '--user'], env);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(lines, [{ message: 'Started dts-util.service.' }, JSON.parse(serverLine), { message: '{not json' }]);
    assert.match(fs.readFileSync(calls, 'utf8'), /^--user -u dts-util\.service -o cat$/m);
  });

  it('without --json passes the journal through unchanged', async () => {
    const { code, stdout } = await runCli(['logs', '--service-manager', 'systemd', '--user', '-f'], env);
    assert.equal(code, 0);
    assert.equal(stdout, `Started dts-util.service.\n${serverLine}\n{not json\n`);
    assert.match(fs.readFileSync(calls, 'utf8'), /^--user -u dts-util\.service -f$/m);
  });
});
