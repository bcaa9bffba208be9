import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status, type ServiceError } from '@grpc/grpc-js';

import { unaryCall } from '../../src/client/client.js';
import { uploadLocalFile } from '../../src/client/upload.js';
import { STAGING_DIR } from '../../src/server/models-dir.js';
import { serveWithClient, type ServeWithClient } from '../helpers/cli.js';
import { sha256 } from '../helpers/calls.js';
import { listFiles } from '../helpers/test-server.js';
import { tempHome } from '../helpers/temp-home.js';

/**
 * The server process may write files of at most this size (RLIMIT_FSIZE, set with prlimit): 32 KiB
 * past a megabyte boundary, so a write that straddles it is cut short rather than refused.
 */
const FILE_SIZE_LIMIT = 4 * 2 ** 20 + 32 * 1024;

for (const [writePath, serveArgs] of [
  ['direct I/O', []],
  ['the page cache (--no-direct-io)', ['--no-direct-io']],
] as const) {
  describe(`UploadFile when the server cannot write the file (a real write error mid-upload, through ${writePath})`, () => {
    const home = tempHome('dts-upload-efbig-');
    let server: ServeWithClient;
    before(async () => {
      server = await serveWithClient([...serveArgs], home.home, home.env, ['prlimit', `--fsize=${FILE_SIZE_LIMIT}`]);
    });
    after(async () => {
      await server.stop();
      home.cleanup();
    });

    it('answers RESOURCE_EXHAUSTED naming the limit, keeps nothing, and goes on serving', async () => {
      const { connection } = server;
      const models = path.join(home.home, 'models');
      const big = path.join(home.home, 'big.bin');
      // Past the limit several chunks in, so the failing write is one of several in flight.
      fs.writeFileSync(big, crypto.randomBytes(FILE_SIZE_LIMIT + 3 * 2 ** 20));
      await assert.rejects(
        uploadLocalFile(connection.service, big, 'sd/unet/model.onnx_data'),
        (error: ServiceError) => error.code === status.RESOURCE_EXHAUSTED && /larger than the server process may write: its file size limit \(ulimit -f, or LimitFSIZE=/.test(error.details),
      );
      assert.deepEqual(listFiles(models).filter((f) => !f.startsWith('smoke/')), []);
      assert.deepEqual(fs.existsSync(path.join(models, STAGING_DIR)) ? fs.readdirSync(path.join(models, STAGING_DIR)) : [], []);

      // The last write crosses the limit: write(2) stores what fits and returns a short count. That
      // is the same error, not a file with a hole or a size mismatch.
      const straddling = path.join(home.home, 'straddling.bin');
      fs.writeFileSync(straddling, crypto.randomBytes(FILE_SIZE_LIMIT + 32 * 1024));
      await assert.rejects(
        uploadLocalFile(connection.service, straddling, 'sd/unet/model.onnx_data'),
        (error: ServiceError) => error.code === status.RESOURCE_EXHAUSTED && /larger than the server process may write/.test(error.details),
      );
      assert.deepEqual(listFiles(models).filter((f) => !f.startsWith('smoke/')), []);

      const echo = await unaryCall(connection.service, connection.service.echo, {}, 10_000);
      assert.equal(echo.message, 'HELLO');
      const small = path.join(home.home, 'small.bin');
      const data = crypto.randomBytes(2 ** 20 + 7);
      fs.writeFileSync(small, data);
      const stored = await uploadLocalFile(connection.service, small, 'sd/unet/model.onnx_data');
      assert.equal(stored.sha256, sha256(data));
      assert.deepEqual(fs.readFileSync(path.join(models, 'sd', 'unet', 'model.onnx_data')), data);
    });
  });
}
