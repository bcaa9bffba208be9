/** `serve --shared-secret-file`: a clear usage error for a file that cannot be read, a warning for one every user can read. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { oneLine, runCli, spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

const WARNING = /shared secret file .* is readable by every user/;

describe('serve --shared-secret-file (built binary)', () => {
  const home = tempHome('dts-secret-file-');
  after(() => home.cleanup());

  it('refuses a file that is not there: exit 2 and a message that says so, with what to do', async () => {
    const { code, stderr } = await runCli(['serve', '--port', '0', '--shared-secret-file', '/nope'], home.env);
    assert.equal(code, 2, stderr);
    assert.match(oneLine(stderr), /cannot read the shared secret file "\/nope": there is no such file .*Try this: point --shared-secret-file at a file/);
    assert.doesNotMatch(stderr, /Parsing --shared-secret-file/);
  });

  /** The log lines of a server started with the secret in a file of `mode`, and stopped. */
  async function serveWithSecretMode(mode: number) {
    const file = path.join(home.home, `secret-${mode.toString(8)}`);
    fs.writeFileSync(file, 'file-secret-123\n');
    fs.chmodSync(file, mode);
    const serve = await spawnServe(['--shared-secret-file', file], home.env);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    return serve.lines;
  }

  it('warns at start when every user can read the file (0644), not when only its group can (0640)', async () => {
    const open = await serveWithSecretMode(0o644);
    const warning = open.find((l) => WARNING.test(String(l.msg)));
    assert.equal(warning?.level, 'warn', JSON.stringify(open));
    assert.match(String(warning.msg), /mode 0644.*chmod 600/);
    assert.ok(!JSON.stringify(open).includes('file-secret-123'), 'the secret is in the log');

    const group = await serveWithSecretMode(0o640);
    assert.ok(group.some((l) => l.msg === 'stopped'));
    assert.ok(!group.some((l) => WARNING.test(String(l.msg))), 'a group-readable secret file was warned about');
  });
});
