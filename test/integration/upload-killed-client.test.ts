import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { echo } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

/** A separate client process that streams an upload forever (until it is killed). */
const UPLOADER = `
import { Metadata } from '@grpc/grpc-js';
import { connect } from ${JSON.stringify(pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'src', 'client', 'client.js')).href)};
const c = connect({ address: process.env.ADDRESS, tls: true, caPem: process.env.CA_PEM });
const call = c.service.uploadFile(new Metadata(), () => {});
call.on('error', () => {});
const chunk = Buffer.alloc(256 * 1024, 1);
call.write({ filename: 'killed/model.onnx', data: chunk, sha256: '', size: 0 });
const more = () => { while (call.write({ filename: '', data: chunk, sha256: '', size: 0 })); call.once('drain', more); };
more();
`;

describe('UploadFile with a client process that is killed mid-stream', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('leaves no file and no staging file, and the server keeps answering', async () => {
    const staging = path.join(t.settings.modelsDir, STAGING_DIR);
    const child = spawn(process.execPath, ['--input-type=module', '-e', UPLOADER], {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, ADDRESS: t.address, CA_PEM: t.caPem },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Killed once the server has written a few megabytes of it.
    await waitUntil(() => listFiles(staging).some((f) => fs.statSync(path.join(staging, f)).size > 4 * 2 ** 20), 30_000);
    child.kill('SIGKILL');
    await exited;
    await waitUntil(() => listFiles(staging).length === 0, 30_000);
    assert.deepEqual(listFiles(t.settings.modelsDir), []);
    assert.ok(!fs.existsSync(path.join(t.settings.modelsDir, 'killed')));
    assert.equal((await echo(t.client())).message, 'HELLO');
  });
});
