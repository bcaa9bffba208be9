import type { FileHandle } from 'node:fs/promises';

import { writeFully } from './write-fully.js';

/**
 * Writes in flight at once: one to copy into the page cache while the next is queued. More would
 * only hold more of libuv's four threadpool threads, which the rest of the server (FilesExist,
 * model loading) needs too.
 */
const MAX_WRITES_IN_FLIGHT = 2;
/** Start writing back to disk every this many bytes instead of all at the end. */
const WRITEBACK_EVERY_BYTES = 64 * 2 ** 20;

/**
 * Appends chunks to an open file with the disk working alongside the network, through the page
 * cache: for filesystems that refuse direct I/O (DirectFileWriter is used where it works).
 *
 * Writes carry explicit offsets, so several can be in flight without reordering. Every
 * `writebackEvery` bytes (64 MiB) a `datasync` starts in the background: the kernel would otherwise hold a
 * whole model in dirty pages (the default threshold is 10% of RAM) and write it only at the final
 * fsync, so the upload would take network time plus disk time instead of the larger of the two, and
 * the reply would wait seconds after the last byte. The first error from any write or sync is
 * thrown by the next call.
 */
export class StagedFileWriter {
  private position = 0;
  private readonly writes: Promise<unknown>[] = [];
  private writeback: Promise<void> | undefined;
  private writebackFrom = 0;
  private failure: unknown;

  constructor(
    readonly file: FileHandle,
    private readonly writebackEvery = WRITEBACK_EVERY_BYTES,
  ) {}

  /** Queues `data` after what came before; resolves once the queue has room for more. */
  async write(data: Uint8Array): Promise<void> {
    this.throwIfFailed();
    const offset = this.position;
    this.position += data.length;
    this.writes.push(writeFully(this.file, data, data.length, offset).catch((error: unknown) => this.fail(error)));
    if (this.writes.length >= MAX_WRITES_IN_FLIGHT) await this.writes.shift();
    if (!this.writeback && this.position - this.writebackFrom >= this.writebackEvery) this.startWriteback();
    this.throwIfFailed();
  }

  /** Every byte written and on disk (fsync), or the first error. */
  async finish(): Promise<void> {
    await this.settle();
    this.throwIfFailed();
    await this.file.sync();
  }

  /** Waits for outstanding work without reporting it, before the file is closed and removed. */
  async settle(): Promise<void> {
    await Promise.all(this.writes.splice(0));
    await this.writeback;
  }

  private startWriteback(): void {
    this.writebackFrom = this.position;
    this.writeback = this.file
      .datasync()
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.writeback = undefined;
      });
  }

  private fail(error: unknown): void {
    this.failure ??= error;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
