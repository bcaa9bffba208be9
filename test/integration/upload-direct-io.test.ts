import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Metadata } from '@grpc/grpc-js';

import { STAGING_DIR } from '../../src/server/models-dir.js';
import { sha256, uploadBytes } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

const MIB = 2 ** 20;

describe('UploadFile writes with direct I/O (the models directory is on ext4 here)', () => {
  let t: TestServer;
  let models: string;
  before(async () => {
    t = await startTestServer();
    models = t.settings.modelsDir;
  });
  after(() => t.stop());

  it('stores every size whole: tails shorter than a block, whole blocks, several aligned slots', async () => {
    // Sizes around the 4 KiB block and the 1 MiB slot, sent in chunks that straddle both.
    const sizes = [1, 4095, 4096, 4097, MIB, MIB + 4096, 2.5 * MIB + 17];
    for (const [i, size] of sizes.entries()) {
      const data = crypto.randomBytes(size);
      const reply = await uploadBytes(t.client(), `direct/${i}.bin`, data, { sha256: sha256(data), size }, 100_003);
      assert.match(reply.message, new RegExp(`${size} bytes, sha256 ${sha256(data)}`));
      assert.deepEqual(fs.readFileSync(path.join(models, 'direct', `${i}.bin`)), data, `${size} bytes`);
    }
    assert.deepEqual(listFiles(path.join(models, STAGING_DIR)), [], 'no probe or staging file is left');
    const verdicts = t.logs.filter((line) => /direct I\/O/.test(line));
    assert.equal(verdicts.length, 1, 'the filesystem is probed once and the answer logged once');
    assert.match(verdicts[0]!, /uploads are written with direct I\/O/);
  });

  it('holds the staging file open with O_DIRECT while bytes arrive', async () => {
    const data = crypto.randomBytes(3 * MIB);
    const reply = new Promise((resolve, reject) => {
      const stream = t.client().service.uploadFile(new Metadata(), (error, response) => (error ? reject(error) : resolve(response)));
      stream.write({ filename: 'held.bin', data: data.subarray(0, 2 * MIB), sha256: '', size: data.length });
      // The server is in this process: its open staging file is one of ours.
      void waitUntil(() => stagingDescriptors().length === 1).then(() => {
        const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${stagingDescriptors()[0]}`, 'utf8'))![1]!, 8);
        // fdinfo prints open(2)'s flags, whose values Node's constants mirror for this platform.
        assert.ok((flags & fs.constants.O_DIRECT) !== 0, `staging file flags ${flags.toString(8)} lack O_DIRECT`);
        stream.write({ filename: '', data: data.subarray(2 * MIB), sha256: sha256(data), size: 0 });
        stream.end();
      }, reject);
    });
    await reply;
    assert.deepEqual(fs.readFileSync(path.join(models, 'held.bin')), data);
  });

  /** This process's descriptors open on a file in the staging folder. */
  function stagingDescriptors(): string[] {
    const staging = path.join(models, STAGING_DIR);
    return fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(staging + path.sep);
      } catch {
        return false;
      }
    });
  }
});
