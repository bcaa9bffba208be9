import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import type { FileUploadRequest, ImageGenerationServiceClient } from '../../src/generated/draw_things_image_service.js';
import { drawThingsClient, dtFilesExist, dtUpload, dtUploadMessages } from '../helpers/draw-things-client.js';
import { listFiles, startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'dt-upload-secret-07c4';

describe('the Draw Things app protocol: UploadFile (initRequest, then chunks at offsets)', () => {
  let t: TestServer;
  let client: ImageGenerationServiceClient;
  before(async () => {
    t = await startTestServer({}, { DTS_UTIL_SHARED_SECRET: SECRET });
    client = drawThingsClient(t);
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  const modelsDir = () => t.settings.modelsDir;
  /** Every file in the models directory, the staging folder included: a failed upload leaves nothing. */
  const everything = () => listFiles(modelsDir());

  it('stores the file whole, acknowledges the init and every chunk with the offset received so far, and FilesExist then hashes it', async () => {
    const content = crypto.randomBytes(300_000 + 17);
    const { responses, error } = await dtUpload(client, dtUploadMessages('uploaded_f16.ckpt', content, 100_000, SECRET));
    assert.equal(error, undefined);
    assert.deepEqual(
      responses.map((r) => [r.chunkUploadSuccess, r.receivedOffset, r.filename]),
      [[true, 0, 'uploaded_f16.ckpt'], [true, 100_000, 'uploaded_f16.ckpt'], [true, 200_000, 'uploaded_f16.ckpt'], [true, 300_000, 'uploaded_f16.ckpt'], [true, 300_017, 'uploaded_f16.ckpt'], [true, 300_017, 'uploaded_f16.ckpt']],
    );
    assert.match(responses.at(-1)!.message, /stored uploaded_f16\.ckpt: 300017 bytes, sha256 [0-9a-f]{64}/);
    assert.ok(fs.readFileSync(path.join(modelsDir(), 'uploaded_f16.ckpt')).equals(content));
    const reply = await dtFilesExist(client, { files: ['uploaded_f16.ckpt'], filesWithHash: ['uploaded_f16.ckpt'], sharedSecret: SECRET });
    assert.deepEqual(reply.existences, [true]);
    assert.ok(reply.hashes[0]!.equals(crypto.createHash('sha256').update(content).digest()));
  });

  it('an empty file is an initRequest with totalSize 0 and no chunks', async () => {
    const { error } = await dtUpload(client, dtUploadMessages('empty.txt', Buffer.alloc(0), 10, SECRET));
    assert.equal(error, undefined);
    assert.equal(fs.statSync(path.join(modelsDir(), 'empty.txt')).size, 0);
  });

  /** Each bad upload fails with its status and message, and the models directory is as it was. */
  async function refused(messages: FileUploadRequest[], code: status, message: RegExp): Promise<void> {
    const before = everything();
    const { error } = await dtUpload(client, messages);
    assert.ok(error, 'the upload should have failed');
    assert.equal(error.code, code, error.details);
    assert.match(error.details, message);
    assert.deepEqual(everything(), before);
  }

  const content = crypto.randomBytes(5000);
  const good = () => dtUploadMessages('bad.ckpt', content, 1000, SECRET);

  it('a chunk that does not start at the next byte is DATA_LOSS', async () => {
    const messages = good();
    messages.splice(2, 1); // the chunk at 1000 goes missing
    await refused(messages, status.DATA_LOSS, /chunk starts at offset 2000, but 1000 bytes were received/);
  });

  it('fewer bytes than the announced totalSize is INVALID_ARGUMENT, as in the app', async () => {
    await refused(good().slice(0, -1), status.INVALID_ARGUMENT, /received 4000 bytes, but initRequest\.totalSize announced 5000; nothing was stored/);
  });

  it('bytes that do not hash to the announced SHA-256 are DATA_LOSS', async () => {
    const messages = good();
    messages[3]!.chunk!.content = Buffer.alloc(1000, 7);
    await refused(messages, status.DATA_LOSS, /sha256 mismatch/);
  });

  it('a missing or wrong secret, on the first message or any later one, is UNAUTHENTICATED', async () => {
    await refused(dtUploadMessages('bad.ckpt', content, 1000), status.UNAUTHENTICATED, /requires a shared secret/);
    const messages = good();
    messages[4]!.sharedSecret = 'wrong';
    await refused(messages, status.UNAUTHENTICATED, /requires a shared secret/);
  });

  it('a malformed upload is INVALID_ARGUMENT saying what is wrong', async () => {
    const messages = good();
    await refused(messages.slice(1), status.INVALID_ARGUMENT, /first message must be an initRequest/);
    await refused([messages[0]!, messages[0]!, ...messages.slice(1)], status.INVALID_ARGUMENT, /initRequest may be sent only once/);
    await refused([{ ...messages[0]!, initRequest: { ...messages[0]!.initRequest!, sha256: Buffer.from('abc') } }, ...messages.slice(1)], status.INVALID_ARGUMENT, /raw SHA-256 \(32 bytes; got 3\)/);
    const renamed = good();
    renamed[2]!.chunk!.filename = 'other.ckpt';
    await refused(renamed, status.INVALID_ARGUMENT, /names another file/);
    await refused(dtUploadMessages('../escape.ckpt', content, 1000, SECRET), status.INVALID_ARGUMENT, /\.\./);
    await refused([], status.INVALID_ARGUMENT, /empty upload/);
  });
});
