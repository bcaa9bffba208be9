/** `serve` on a port another program holds: one friendly message naming that program, nothing from grpc-js around it. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { oneLine, runCli, spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

describe('serve on a port in use (built binary)', () => {
  const home = tempHome('dts-port-taken-');
  after(() => home.cleanup());

  it('names the holder by its command line (not "MainThread"), exit 2, and no grpc-js "No address added" line', async () => {
    const holder = await spawnServe(['--no-tls'], home.env);
    try {
      const pid = Number(holder.lines.find((l) => l.msg === 'dts-util server listening')!.pid);
      const { code, stdout, stderr } = await runCli(['serve', '--no-tls', '--port', String(holder.port)], home.env);
      assert.equal(code, 2, stderr);
      const message = oneLine(stderr);
      assert.match(message, new RegExp(`127\\.0\\.0\\.1:${holder.port} is already in use by pid ${pid} \\(node …/bin/run\\.js serve\\)`));
      assert.doesNotMatch(message, /MainThread/);
      assert.doesNotMatch(stderr + stdout, /No address added/);
    } finally {
      holder.child.kill('SIGKILL');
    }
  });
});
