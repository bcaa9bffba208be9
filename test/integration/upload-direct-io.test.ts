import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Metadata } from '@grpc/grpc-js';

import type { ServerFlags } from '../../src/config/settings.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { sha256, uploadBytes } from '../helpers/calls.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

const MIB = 2 ** 20;

/** Sizes around the 4 KiB block and the 1 MiB slot, sent in chunks that straddle both. */
const SIZES = [1, 4095, 4096, 4097, MIB, MIB + 4096, 2.5 * MIB + 17];

/** The real server (in this process) with `flags`, and what an upload in progress looks like from inside it. */
function uploadServer(flags: ServerFlags) {
  let t!: TestServer;
  before(async () => {
    t = await startTestServer(flags);
  });
  after(() => t.stop());

  /** Uploads every size, checks each stored file byte for byte, and that nothing stays in staging. */
  async function uploadEverySize() {
    const models = t.settings.modelsDir;
    for (const [i, size] of SIZES.entries()) {
      const data = crypto.randomBytes(size);
      const reply = await uploadBytes(t.client(), `sizes/${i}.bin`, data, { sha256: sha256(data), size }, 100_003);
      assert.match(reply.message, new RegExp(`${size} bytes, sha256 ${sha256(data)}`));
      assert.deepEqual(fs.readFileSync(path.join(models, 'sizes', `${i}.bin`)), data, `${size} bytes`);
    }
    assert.deepEqual(listFiles(path.join(models, STAGING_DIR)), [], 'no probe or staging file is left');
  }

  /** Starts a 3 MiB upload, reads the open(2) flags of its staging file mid-stream, then finishes it. */
  async function stagingFileFlags(): Promise<number> {
    const models = t.settings.modelsDir;
    const data = crypto.randomBytes(3 * MIB);
    let flags = 0;
    await new Promise((resolve, reject) => {
      const stream = t.client().service.uploadFile(new Metadata(), (error, response) => (error ? reject(error) : resolve(response)));
      stream.write({ filename: 'held.bin', data: data.subarray(0, 2 * MIB), sha256: '', size: data.length });
      void waitUntil(() => stagingDescriptors(models).length === 1).then(() => {
        // fdinfo prints open(2)'s flags in octal; Node's fs.constants mirror this platform's values.
        flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${stagingDescriptors(models)[0]}`, 'utf8'))![1]!, 8);
        stream.write({ filename: '', data: data.subarray(2 * MIB), sha256: sha256(data), size: 0 });
        stream.end();
      }, reject);
    });
    assert.deepEqual(fs.readFileSync(path.join(models, 'held.bin')), data);
    return flags;
  }

  const directIoLogLines = () => t.logs.filter((line) => /direct I\/O/.test(line));
  return { uploadEverySize, stagingFileFlags, directIoLogLines };
}

/** This process's descriptors open on a file in the staging folder (the server runs in this process). */
function stagingDescriptors(models: string): string[] {
  const staging = path.join(models, STAGING_DIR);
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(staging + path.sep);
    } catch {
      return false;
    }
  });
}

describe('UploadFile writes with direct I/O (the models directory is on ext4 here)', () => {
  const server = uploadServer({});

  it('stores every size whole: tails shorter than a block, whole blocks, several aligned slots', async () => {
    await server.uploadEverySize();
    const verdicts = server.directIoLogLines();
    assert.equal(verdicts.length, 1, 'the filesystem is probed once and the answer logged once');
    assert.match(verdicts[0]!, /uploads are written with direct I\/O/);
  });

  it('holds the staging file open with O_DIRECT while bytes arrive', async () => {
    const flags = await server.stagingFileFlags();
    assert.ok((flags & fs.constants.O_DIRECT) !== 0, `staging file flags ${flags.toString(8)} lack O_DIRECT`);
  });
});

describe('UploadFile with --no-direct-io writes through the page cache', () => {
  const server = uploadServer({ directIo: false });

  it('stores every size whole without probing the filesystem', async () => {
    await server.uploadEverySize();
    assert.deepEqual(server.directIoLogLines(), []);
  });

  it('holds the staging file open without O_DIRECT', async () => {
    const flags = await server.stagingFileFlags();
    assert.equal(flags & fs.constants.O_DIRECT, 0, `staging file flags ${flags.toString(8)} have O_DIRECT`);
  });
});
