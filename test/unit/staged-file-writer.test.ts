import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { StagedFileWriter } from '../../src/server/staged-file-writer.js';
import { tempHome } from '../helpers/temp-home.js';

describe('StagedFileWriter', () => {
  const home = tempHome('dts-staged-writer-');
  after(() => home.cleanup());

  /** A real file handle whose datasync calls are counted (the one thing not visible in the file). */
  async function openCounted(name: string, flags = 'w') {
    const handle = await fs.promises.open(path.join(home.home, name), flags);
    const counts = { datasync: 0 };
    const counted = new Proxy(handle, {
      get(target, property) {
        if (property === 'datasync') counts.datasync++;
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as FileHandle;
    return { handle, counted, counts };
  }

  it('writes every chunk in order with writes overlapping, and starts writeback while writing', async () => {
    const { handle, counted, counts } = await openCounted('ordered.bin');
    const writer = new StagedFileWriter(counted, 64 * 1024);
    // Chunks of different sizes, so an out-of-order write would shift bytes.
    const chunks = Array.from({ length: 40 }, (_, i) => crypto.randomBytes(1000 + i * 997));
    for (const chunk of chunks) await writer.write(chunk);
    const duringWrites = counts.datasync;
    await writer.finish();
    await handle.close();
    assert.deepEqual(fs.readFileSync(path.join(home.home, 'ordered.bin')), Buffer.concat(chunks));
    // 800 KiB in all, writeback every 64 KiB: it began before the final fsync.
    assert.ok(duringWrites >= 1, `datasync started ${duringWrites} times while writing`);
  });

  it('never starts writeback for a file smaller than the interval', async () => {
    const { handle, counted, counts } = await openCounted('small.bin');
    const writer = new StagedFileWriter(counted, 1024 * 1024);
    for (let i = 0; i < 10; i++) await writer.write(crypto.randomBytes(1000));
    await writer.finish();
    await handle.close();
    assert.equal(counts.datasync, 0);
    assert.equal(fs.statSync(path.join(home.home, 'small.bin')).size, 10_000);
  });

  it('reports a failed write from the next call, and settle() waits without throwing', async () => {
    fs.writeFileSync(path.join(home.home, 'read-only.bin'), '');
    const { handle, counted } = await openCounted('read-only.bin', 'r');
    const writer = new StagedFileWriter(counted);
    // The first write is only queued; its EBADF surfaces once the queue has been waited on.
    const writes = async () => {
      for (let i = 0; i < 10; i++) await writer.write(Buffer.alloc(10));
      await writer.finish();
    };
    await assert.rejects(writes(), (error: NodeJS.ErrnoException) => error.code === 'EBADF');
    await writer.settle();
    await handle.close();
  });
});
