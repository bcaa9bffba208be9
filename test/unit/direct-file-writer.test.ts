import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { DirectFileWriter, directWritesIn, type DirectWriteVerdict } from '../../src/server/direct-file-writer.js';
import { tempHome } from '../helpers/temp-home.js';

describe('DirectFileWriter', () => {
  const home = tempHome('dts-direct-writer-');
  after(() => home.cleanup());

  it('writes chunks of any size in order, with no padding at the end', async () => {
    const file = path.join(home.home, 'ordered.bin');
    const writer = await DirectFileWriter.create(file, 0o644);
    // Uneven chunks, so a write at a wrong offset or a lost slot would shift or drop bytes.
    const chunks = Array.from({ length: 40 }, (_, i) => crypto.randomBytes(1000 + i * 9973));
    for (const chunk of chunks) await writer.write(chunk);
    await writer.finish();
    await writer.file.close();
    assert.deepEqual(fs.readFileSync(file), Buffer.concat(chunks));
  });

  it('refuses to replace an existing file', async () => {
    const file = path.join(home.home, 'exists.bin');
    fs.writeFileSync(file, 'keep');
    await assert.rejects(DirectFileWriter.create(file, 0o644), (error: NodeJS.ErrnoException) => error.code === 'EEXIST');
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep');
  });

  it('probes a directory once, reports why direct I/O cannot work there, and leaves no probe file', async () => {
    const heard: DirectWriteVerdict[] = [];
    const dir = fs.mkdtempSync(path.join(home.home, 'probe-'));
    assert.deepEqual(await directWritesIn(dir, (v) => heard.push(v)), { ok: true });
    assert.deepEqual(await directWritesIn(dir, (v) => heard.push(v)), { ok: true });
    assert.equal(heard.length, 1, 'the second call reuses the first answer');
    assert.deepEqual(fs.readdirSync(dir), []);

    const missing = await directWritesIn(path.join(home.home, 'no-such-dir'));
    assert.equal(missing.ok, false);
    assert.match((missing as { reason: string }).reason, /ENOENT/);
  });
});
