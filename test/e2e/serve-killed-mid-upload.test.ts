import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { Metadata } from '@grpc/grpc-js';

import { connect } from '../../src/client/client.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { listFiles } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

describe('serve killed (kill -9) in the middle of an upload', () => {
  const home = tempHome();
  after(() => home.cleanup());
  const staging = path.join(home.home, 'models', STAGING_DIR);

  it('leaves a staging file that the next start removes, saying how many and how large', async () => {
    const first = await spawnServe(['--no-tls'], home.env);
    const connection = connect({ address: `127.0.0.1:${first.port}`, tls: false });
    try {
      const stream = connection.service.uploadFile(new Metadata(), () => undefined);
      stream.on('error', () => undefined);
      stream.write({ filename: 'big/model.onnx', data: crypto.randomBytes(2 ** 20), sha256: '', size: 64 * 2 ** 20 });
      // The part file has the first megabyte (direct I/O writes whole megabytes) before the kill.
      await waitUntil(() => listFiles(staging).some((f) => f.endsWith('.part') && fs.statSync(path.join(staging, f)).size > 0));
      first.child.kill('SIGKILL');
      await first.exited;
    } finally {
      connection.close();
    }
    const left = listFiles(staging).filter((f) => f.endsWith('.part'));
    assert.equal(left.length, 1, 'a killed server cannot clean up after itself');
    const bytes = fs.statSync(path.join(staging, left[0]!)).size;

    const second = await spawnServe(['--no-tls'], home.env);
    try {
      const line = await second.waitForLine((l) => /unfinished uploads/.test(String(l.msg)));
      assert.equal(line.files, 1);
      assert.equal(line.bytes, bytes);
      assert.deepEqual(listFiles(staging).filter((f) => f.endsWith('.part')), []);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
