import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { makeDirectory } from '../util/make-directory.js';
import { hubGet, hubRefusal, type Hub, type HubFile } from './hub-client.js';
import { hashFile } from '../util/file-hash.js';

/** A download cut short; the part file stays and a re-run resumes it. */
export class InterruptedTransferError extends Error {
  override readonly name = 'InterruptedTransferError';
}

/** The bytes do not match what the hub says they are; the part file is gone. */
export class CorruptDownloadError extends Error {
  override readonly name = 'CorruptDownloadError';
}

/** ENOSPC, with the folder and how much was still to come. */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError';
}

/** What a file's bytes are checked against: the LFS SHA-256, else git's blob SHA-1, else nothing but the size. */
function verifier(file: HubFile): { hash: crypto.Hash; expected: string; kind: string } | undefined {
  if (file.sha256) return { hash: crypto.createHash('sha256'), expected: file.sha256, kind: 'sha256' };
  if (file.blobId && file.size !== undefined) {
    const hash = crypto.createHash('sha1').update(`blob ${file.size}\0`);
    return { hash, expected: file.blobId, kind: 'git blob id' };
  }
  return undefined;
}

/** A file's size, 0 when it is not there (a part file not started yet). */
export async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
}

export interface DownloadOptions {
  hub: Hub;
  url: string;
  /** Where the bytes go while they arrive: `<final>.part`, appended to on a resume. */
  partPath: string;
  finalPath: string;
  file: HubFile;
  /** Told the bytes already in the part file (once), then each chunk's size. */
  onBytes: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Downloads one file into its part file, resuming from the part file's end with an HTTP Range
 * request, checks the size and digest, then renames it into place. A hub that ignores the
 * range (200 instead of 206) or cannot satisfy it (416) gets a fresh download from byte 0.
 */
export async function downloadFile(options: DownloadOptions): Promise<void> {
  const { hub, url, partPath, finalPath, file } = options;
  await makeDirectory(path.dirname(partPath));
  let have = await sizeOf(partPath);
  if (file.size !== undefined && have > file.size) {
    await fs.rm(partPath, { force: true });
    have = 0;
  }
  let check = verifier(file);
  if (have > 0 && check) await hashFile(partPath, check.hash);
  options.onBytes(have);

  if (file.size === undefined || have < file.size) {
    let response = await hubGet(hub, url, have > 0 ? { range: `bytes=${have}-` } : {}, options.signal);
    const resumed = response.status === 206 && response.headers.get('content-range')?.startsWith(`bytes ${have}-`);
    if (have > 0 && !resumed) {
      // The range was not honoured: start again from nothing (the bytes counted so far are given back).
      await response.body?.cancel();
      await fs.rm(partPath, { force: true });
      options.onBytes(-have);
      have = 0;
      check = verifier(file);
      response = await hubGet(hub, url, {}, options.signal);
    }
    if (!response.ok) throw hubRefusal(hub, response, file.path);
    await appendBody(response, options, have, check?.hash);
  }

  const size = await sizeOf(partPath);
  const corrupt = (why: string) => new CorruptDownloadError(`${file.path} ${why}; the download was deleted, run the same command again to fetch it anew (if it happens again, the hub or a proxy is serving other bytes)`);
  if (file.size !== undefined && size !== file.size) {
    await fs.rm(partPath, { force: true });
    throw corrupt(`is ${size} bytes but the hub lists ${file.size}`);
  }
  if (check) {
    const digest = check.hash.digest('hex');
    if (digest !== check.expected) {
      await fs.rm(partPath, { force: true });
      throw corrupt(`does not match the hub's ${check.kind} (expected ${check.expected}, got ${digest})`);
    }
  }
  await fs.rename(partPath, finalPath);
}

/** Streams the body onto the end of the part file, hashing as it goes; flushed to disk before it counts. */
async function appendBody(response: Response, options: DownloadOptions, start: number, hash: crypto.Hash | undefined): Promise<void> {
  const out = await fs.open(options.partPath, 'a');
  let received = start;
  try {
    if (!response.body) throw new Error('the hub sent no body');
    for await (const chunk of response.body) {
      hash?.update(chunk);
      await out.write(chunk);
      received += chunk.length;
      options.onBytes(chunk.length);
    }
    await out.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') {
      const needed = options.file.size === undefined ? 'its remaining bytes' : `${options.file.size - received} more bytes for it`;
      throw new DiskFullError(`the disk holding ${path.dirname(options.finalPath)} is full while writing ${options.file.path} (${needed}); free some space or choose another models directory with --model-path, then run the same command again to resume`);
    }
    if (options.signal?.aborted) throw new InterruptedTransferError(`the download of ${options.file.path} was stopped after ${received} bytes; run the same command again to resume from there`);
    const why = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    const of = options.file.size === undefined ? '' : ` of ${options.file.size}`;
    throw new InterruptedTransferError(`the download of ${options.file.path} was interrupted after ${received}${of} bytes (${why}); run the same command again to resume from there`);
  } finally {
    await out.close().catch(() => undefined);
  }
}
