import { constants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { stagingFileName } from './staging-files.js';
import { writeFully } from './write-fully.js';

/**
 * Direct I/O needs offsets, lengths and memory aligned to the device's logical block; 4 KiB
 * covers both 512-byte and 4K-native disks.
 */
const BLOCK_BYTES = 4096;
/** Each write: one aligned megabyte, the size of a client's upload chunk. */
const SLOT_BYTES = 2 ** 20;
/** Writes in flight: one at the device while the next is queued (as StagedFileWriter, for libuv's threadpool). */
const WRITES_IN_FLIGHT = 2;
/** One slot per write in flight plus the one being filled. */
const SLOTS = WRITES_IN_FLIGHT + 1;
const WASM_PAGE_BYTES = 65_536;

/** Linux only: macOS has no O_DIRECT (its F_NOCACHE is not reachable from Node). */
const DIRECT_CREATE_FLAGS = constants.O_DIRECT === undefined ? undefined : constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT;

/**
 * Writes an upload with O_DIRECT: the bytes go from an aligned buffer to the disk, not copied into
 * the page cache first. On the development VM the page-cache copy was the largest cost of an upload
 * (≈ 40% of the server's CPU, at 0.4–5 GB/s depending on the host), and it filled the cache
 * with a model nobody reads until it is loaded. Chunks of any size are gathered into aligned
 * one-megabyte slots; the tail that is not a whole block is written through a second, ordinary
 * descriptor, so the file never holds padding (nor would padding trip a file-size limit).
 *
 * Same contract as StagedFileWriter: `write` resolves when there is room for more, the first
 * error surfaces from the next call, `finish` leaves every byte on disk.
 */
export class DirectFileWriter {
  private readonly slots: Uint8Array[];
  private current = 0;
  private filled = 0;
  private position = 0;
  private readonly writes: Promise<unknown>[] = [];
  private failure: unknown;

  private constructor(
    readonly file: FileHandle,
    private readonly filePath: string,
    memory: ArrayBuffer,
  ) {
    this.slots = Array.from({ length: SLOTS }, (_, i) => new Uint8Array(memory, i * SLOT_BYTES, SLOT_BYTES));
  }

  /** Creates `filePath` (it must not exist) for direct writes. */
  static async create(filePath: string, mode: number): Promise<DirectFileWriter> {
    if (DIRECT_CREATE_FLAGS === undefined) throw new Error('direct I/O is not available on this platform');
    // Memory first: if it cannot be had (an address-space limit), no file has been created yet.
    const memory = alignedMemory(SLOT_BYTES * SLOTS);
    return new DirectFileWriter(await fs.open(filePath, DIRECT_CREATE_FLAGS, mode), filePath, memory);
  }

  async write(data: Uint8Array): Promise<void> {
    this.throwIfFailed();
    for (let from = 0; from < data.length; ) {
      const count = Math.min(SLOT_BYTES - this.filled, data.length - from);
      this.slots[this.current]!.set(data.subarray(from, from + count), this.filled);
      this.filled += count;
      from += count;
      if (this.filled === SLOT_BYTES) await this.writeSlot();
    }
    this.throwIfFailed();
  }

  /** Every byte written and on disk (fsync), or the first error. */
  async finish(): Promise<void> {
    const wholeBlocks = this.filled - (this.filled % BLOCK_BYTES);
    const tail = this.slots[this.current]!.subarray(wholeBlocks, this.filled);
    if (wholeBlocks > 0) {
      this.filled = wholeBlocks;
      await this.writeSlot();
    }
    await this.settle();
    this.throwIfFailed();
    if (tail.length === 0) {
      await this.file.sync();
      return;
    }
    // fsync covers the file, whichever descriptor asks: the tail's flushes the direct writes' metadata too.
    const buffered = await fs.open(this.filePath, 'r+');
    try {
      await writeFully(buffered, tail, tail.length, this.position);
      await buffered.sync();
    } finally {
      await buffered.close();
    }
  }

  /** Waits for outstanding writes without reporting them, before the file is closed and removed. */
  async settle(): Promise<void> {
    await Promise.all(this.writes.splice(0));
  }

  private async writeSlot(): Promise<void> {
    const slot = this.slots[this.current]!;
    this.writes.push(writeFully(this.file, slot, this.filled, this.position).catch((error: unknown) => this.fail(error)));
    this.position += this.filled;
    this.filled = 0;
    this.current = (this.current + 1) % SLOTS;
    // The slot filled next was written WRITES_IN_FLIGHT writes ago: that write must be done.
    if (this.writes.length >= WRITES_IN_FLIGHT) await this.writes.shift();
  }

  private fail(error: unknown): void {
    this.failure ??= error;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Whether direct writes work in `dir`: its filesystem must accept O_DIRECT and this memory's alignment. */
export type DirectWriteVerdict = { ok: true } | { ok: false; reason: string };

const verdicts = new Map<string, Promise<DirectWriteVerdict>>();

/**
 * Probes `dir` once per process with one aligned block written directly; later calls reuse the
 * answer. `onProbed` hears the verdict from the call that ran the probe (to log it once).
 */
export function directWritesIn(dir: string, onProbed?: (verdict: DirectWriteVerdict) => void): Promise<DirectWriteVerdict> {
  let verdict = verdicts.get(dir);
  if (!verdict) {
    verdict = probe(dir).then((answer) => {
      onProbed?.(answer);
      return answer;
    });
    verdicts.set(dir, verdict);
  }
  return verdict;
}

async function probe(dir: string): Promise<DirectWriteVerdict> {
  const probePath = path.join(dir, stagingFileName('direct-probe'));
  try {
    const writer = await DirectFileWriter.create(probePath, 0o600);
    try {
      await writer.write(new Uint8Array(BLOCK_BYTES));
      await writer.finish();
    } finally {
      await writer.file.close();
    }
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    await fs.rm(probePath, { force: true });
  }
}

/**
 * Page-aligned memory. Buffer's large allocations come from malloc, 16 bytes past a page
 * boundary; V8 maps a WebAssembly memory on a page boundary of its own. The probe checks it.
 * V8 reserves address space beyond it (guard regions, not memory), returned when it is collected.
 */
function alignedMemory(bytes: number): ArrayBuffer {
  const { WebAssembly } = globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer } } };
  return new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES) }).buffer;
}
