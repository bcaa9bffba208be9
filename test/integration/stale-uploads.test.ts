import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { STAGING_DIR } from '../../src/server/models-dir.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';

/** What a server killed mid-upload (kill -9) leaves in the staging folder, found by the next start. */
describe('unfinished uploads from an earlier server', () => {
  let t: TestServer;
  let models: string;
  const leftovers: Record<string, number> = {};
  let kept: string;
  before(async () => {
    models = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-stale-'));
    const staging = path.join(models, STAGING_DIR);
    fs.mkdirSync(staging, { mode: 0o700 });
    // A process that has exited: its pid names no running server.
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    const leave = (name: string, bytes: number) => {
      fs.writeFileSync(path.join(staging, name), Buffer.alloc(bytes, 1));
      leftovers[name] = bytes;
    };
    leave(`${gone}.4f6b1c2e-dead-beef-0000-000000000000.part`, 3 * 2 ** 20);
    leave('0b7c0f5e-0000-4000-8000-000000000000.part', 1000);
    leave(`${process.pid}.4f6b1c2e-0000-4000-8000-000000000001.part`, 24);
    // Another live process (the test runner): a second server on the same models directory, mid-upload.
    kept = `${process.ppid}.4f6b1c2e-0000-4000-8000-000000000002.part`;
    fs.writeFileSync(path.join(staging, kept), 'in progress');
    fs.writeFileSync(path.join(models, 'model.onnx'), 'a finished model');
    t = await startTestServer({ modelPath: models });
  });
  after(async () => {
    await t.stop();
    fs.rmSync(models, { recursive: true, force: true });
  });

  it('are removed at start, and the log says how many and how large', () => {
    assert.deepEqual(listFiles(path.join(models, STAGING_DIR)), [kept]);
    assert.equal(fs.readFileSync(path.join(models, 'model.onnx'), 'utf8'), 'a finished model', 'finished files stay');
    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /unfinished uploads/.test(String(l.msg)));
    assert.ok(line, `no log line about the leftovers in:\n${t.logs.join('')}`);
    assert.equal(line.files, 3);
    assert.equal(line.bytes, Object.values(leftovers).reduce((a, b) => a + b, 0));
    assert.equal(line.level, 'warn');
  });
});
