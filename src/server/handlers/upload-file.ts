import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setImmediate } from 'node:timers/promises';

import type { UploadFileRequest, UploadFileResponse } from '../../generated/image_generation.js';
import { formatBytes } from '../../util/format-bytes.js';
import { quoteInput } from '../../util/quote-input.js';
import type { Logger } from '../../log/logger.js';
import { makeDirectory } from '../../util/make-directory.js';
import type { CallContext } from '../call-context.js';
import { DirectFileWriter, directWritesIn } from '../direct-file-writer.js';
import { cancelled, dataLoss, failedPrecondition, invalidArgument, resourceExhausted } from '../errors.js';
import { rememberSha256 } from '../file-sha256.js';
import { diskProblem, resolveInside, splitRelativeName, STAGING_DIR } from '../models-dir.js';
import { StagedFileWriter } from '../staged-file-writer.js';
import { stagingFileName } from '../staging-files.js';
import { nextWithin, UploadSlots } from '../upload-limits.js';

export interface UploadOptions {
  modelsDir: string;
  maxUploadBytes: number;
  /** Told every upload's outcome and the bytes received (metrics). */
  onUpload?: (bytes: number, ok: boolean) => void;
  /** Write with O_DIRECT where the filesystem takes it (--direct-io, on by default). */
  directIo: boolean;
  /** Told once whether uploads bypass the page cache. */
  logger?: Logger;
  /** Seconds an upload may receive nothing before it ends with DEADLINE_EXCEEDED. */
  uploadIdleTimeout: number;
  /** Uploads received at once; one more is refused with RESOURCE_EXHAUSTED. */
  maxConcurrentUploads: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * UploadFile: the first message names the destination (and may carry the expected size);
 * every message may carry data, and any may carry the expected SHA-256 (the last one counts). Bytes go to a private staging file that is fsynced,
 * checked, then renamed into place, so a reader sees the old file or the whole new one, and a
 * client that goes away leaves nothing behind. Concurrent uploads to one name each have their own
 * staging file; the last complete one wins, whole. At most `maxConcurrentUploads` at once, each
 * ended when its client sends nothing for `uploadIdleTimeout` seconds.
 */
export function uploadFile(options: UploadOptions) {
  const slots = new UploadSlots(options.maxConcurrentUploads);
  const receive = receiveUpload(options);
  return async (requests: AsyncIterable<UploadFileRequest>, context: CallContext): Promise<UploadFileResponse> => {
    const release = slots.take();
    try {
      return await receive(requests, context);
    } finally {
      release();
    }
  };
}

function receiveUpload({ modelsDir, maxUploadBytes, directIo, onUpload, logger, uploadIdleTimeout }: UploadOptions) {
  return async (requests: AsyncIterable<UploadFileRequest>, context: CallContext): Promise<UploadFileResponse> => {
    const iterator = requests[Symbol.asyncIterator]();
    const nextMessage = () => nextWithinCall(iterator, context, uploadIdleTimeout);
    const first = await nextMessage();
    if (first.done) throw invalidArgument('empty upload: the first message must set filename');
    const { filename } = first.value;
    splitRelativeName(filename);
    let expectedSha = checkSha(first.value.sha256);
    const declaredSize = first.value.size;
    if (declaredSize < 0) throw invalidArgument('size must not be negative');
    if (declaredSize > maxUploadBytes) throw tooLarge(filename, declaredSize, maxUploadBytes);
    await resolveInside(modelsDir, filename);

    const staging = path.join(modelsDir, STAGING_DIR);
    await makeDirectory(staging, 0o700);
    // A declared size that cannot fit is refused before a byte is written, not gigabytes in.
    if (declaredSize > 0) {
      const disk = await fs.statfs(staging);
      if (declaredSize > disk.bavail * disk.bsize) throw diskFull(filename, declaredSize, disk.bavail * disk.bsize);
    }
    const tempPath = path.join(staging, stagingFileName('part'));
    let received = 0;
    const writer = directIo ? await openStagedFile(staging, tempPath, logger) : await bufferedStagedFile(tempPath);
    const { file } = writer;
    let closed = false;
    try {
      const hash = crypto.createHash('sha256');
      for (let message: IteratorResult<UploadFileRequest> = first; !message.done; message = await nextMessage()) {
        if (message !== first && message.value.filename && message.value.filename !== filename) {
          throw invalidArgument('filename may be set only in the first message (or repeated unchanged)');
        }
        // A client may send the checksum last, having hashed while it streamed.
        if (message !== first && message.value.sha256) expectedSha = checkSha(message.value.sha256);
        const data = message.value.data;
        if (data.length === 0) continue;
        received += data.length;
        if (received > maxUploadBytes) throw tooLarge(filename, received, maxUploadBytes);
        if (declaredSize && received > declaredSize) throw dataLoss(`received more than the declared ${declaredSize} bytes; the upload was discarded`);
        hash.update(data);
        await writer.write(data);
      }
      if (declaredSize && received !== declaredSize) throw dataLoss(`received ${received} of the declared ${declaredSize} bytes; the upload was discarded`);
      await writer.finish();
      const { size } = await file.stat();
      await file.close();
      closed = true;
      if (size !== received) throw dataLoss(`wrote ${size} bytes but received ${received}; the upload was discarded`);
      const digest = hash.digest('hex');
      if (expectedSha && digest !== expectedSha) throw dataLoss(`sha256 mismatch: expected ${expectedSha}, received ${digest}; the upload was discarded`);

      // A client reset looks like a clean end of stream to the handler: Node's HTTP/2 stream emits
      // 'end' before 'close', so grpc-js reports the cancellation only a moment later. The fsync
      // above gives it that moment; committing now would store a truncated file.
      await setImmediate();
      if (context.signal.aborted) throw cancelled('the upload was cancelled; nothing was stored');

      // The tree may have changed while bytes arrived: check again where the file will land.
      const target = await resolveInside(modelsDir, filename);
      await makeDirectory(path.dirname(target));
      await moveIntoPlace(tempPath, target, filename);
      // The rename changed the file's ctime: take its identity now, for FilesExist's digest cache.
      rememberSha256(target, await fs.stat(target), digest);
      onUpload?.(received, true);
      return { message: `stored ${filename}: ${received} bytes, sha256 ${digest}` };
    } catch (error) {
      onUpload?.(received, false);
      if (!closed) {
        await writer.settle();
        await file.close().catch(() => undefined);
      }
      await fs.rm(tempPath, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      const refused = code === undefined ? undefined : diskProblem(filename, code);
      if (refused) throw refused;
      if (code === 'ENOSPC') throw diskFull(filename, declaredSize || received, undefined);
      if (code === 'EFBIG') throw overFileSizeLimit(filename);
      throw error;
    }
  };
}

/** Direct I/O where the models directory's filesystem takes it, else through the page cache. */
async function openStagedFile(staging: string, tempPath: string, logger: Logger | undefined): Promise<DirectFileWriter | StagedFileWriter> {
  const direct = await directWritesIn(staging, (verdict) => {
    if (verdict.ok) logger?.info('uploads are written with direct I/O', { dir: staging });
    else logger?.info('uploads go through the page cache: direct I/O is not available here', { dir: staging, reason: verdict.reason });
  });
  return direct.ok ? DirectFileWriter.create(tempPath, 0o644) : bufferedStagedFile(tempPath);
}

async function bufferedStagedFile(tempPath: string): Promise<StagedFileWriter> {
  return new StagedFileWriter(await fs.open(tempPath, 'wx', 0o644));
}

/** The next message; CANCELLED when the client went away (grpc-js destroys the stream then), DEADLINE_EXCEEDED when it went quiet. */
async function nextWithinCall(iterator: AsyncIterator<UploadFileRequest>, context: CallContext, idleSeconds: number): Promise<IteratorResult<UploadFileRequest>> {
  try {
    return await nextWithin(iterator, idleSeconds);
  } catch (error) {
    if (context.signal.aborted) throw cancelled('the upload was cancelled; nothing was stored');
    throw error;
  }
}

async function moveIntoPlace(tempPath: string, target: string, filename: string): Promise<void> {
  const existing = await fs.lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw failedPrecondition(`${quoteInput(filename)} is a folder on the server; upload the files inside it instead`);
  await fs.rename(tempPath, target);
  // Persist the rename itself, not only the file's bytes.
  const dir = await fs.open(path.dirname(target), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function checkSha(value: string): string {
  const sha = value.toLowerCase();
  if (sha && !SHA256_HEX.test(sha)) throw invalidArgument('sha256 must be 64 hexadecimal characters');
  return sha;
}

/** ENOSPC (or a declared size over the free space): which directory, and how much the file needs. */
function diskFull(filename: string, bytes: number, free: number | undefined) {
  const room = free === undefined ? '' : ` and ${formatBytes(free)} is free`;
  return resourceExhausted(`the server's models directory is on a full disk: ${quoteInput(filename)} needs ${formatBytes(bytes)}${room}; free space on the server (or move it to a bigger disk with --model-path) and upload again`);
}

/** EFBIG: the server process may not write files this large (its RLIMIT_FSIZE), whatever the disk has. */
function overFileSizeLimit(filename: string) {
  return resourceExhausted(`${quoteInput(filename)} is larger than the server process may write: its file size limit (ulimit -f, or LimitFSIZE= in its service unit) is lower; raise or remove that limit and upload again`);
}

function tooLarge(filename: string, bytes: number, limit: number) {
  return resourceExhausted(`${quoteInput(filename)} is ${bytes > limit ? 'over' : 'at'} the server's upload limit of ${limit} bytes; raise it with --max-upload-size on the server`);
}
