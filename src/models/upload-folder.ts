import fs from 'node:fs';
import path from 'node:path';

import { status, type ServiceError } from '@grpc/grpc-js';

import { explainFailure } from '../client/check-grpc-error.js';
import { unaryCall, type Connection } from '../client/client.js';
import { uploadLocalFile } from '../client/upload.js';
import { UsageError } from '../config/errors.js';
import type { FilesExistRequest, FilesExistResponse } from '../generated/image_generation.js';
import { MAX_FILES_PER_REQUEST } from '../server/file-check.js';
import { splitRelativeName } from '../server/models-dir.js';
import { checkModelName, listModelFiles, type LocalFile } from './local-files.js';
import { localSha256 } from '../util/file-hash.js';
import { mapLimited } from '../util/map-limited.js';
import type { ProgressListener } from './progress.js';

const CHECK_TIMEOUT_MS = 30_000;
/** Hashing happens on the server for FilesExist with_sha256: a large model takes a while. */
const HASH_TIMEOUT_MS = 30 * 60_000;

export interface UploadedFile {
  /** Name on the server, relative to its models directory. */
  remote: string;
  bytes: number;
  /** false: the server already had it with the same SHA-256. */
  sent: boolean;
}

export interface ModelUploadResult {
  /** The model (folder) name on the server, or the file's name for a single file. */
  name: string;
  files: UploadedFile[];
  filesSent: number;
  filesSkipped: number;
  bytesSent: number;
  bytesSkipped: number;
  seconds: number;
}

export interface ModelUploadOptions {
  /** Folder: the model name (default: the folder's name). File: its name on the server (default: its own name). */
  as?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/**
 * Files under this size go several at a time: each upload ends in an fsync of the file and its
 * folder on the server, which for a dozen configs and tokenizer files would otherwise add a
 * quarter of a second of waiting to a transfer that is all about the one big weights file.
 */
const SMALL_FILE_BYTES = 2 ** 20;
const SMALL_FILE_STREAMS = 8;

/**
 * Small files first (concurrently), then large ones one at a time in path order (one stream
 * already fills the connection), then model_index.json alone, after everything else is stored.
 */
export function transferOrder<T extends { relative: string; size: number }>(files: T[]): { small: T[]; large: T[]; last: T[] } {
  const isIndex = (f: T) => f.relative === 'model_index.json';
  const rest = files.filter((f) => !isIndex(f));
  return { small: rest.filter((f) => f.size < SMALL_FILE_BYTES), large: rest.filter((f) => f.size >= SMALL_FILE_BYTES), last: files.filter(isIndex) };
}

/** A transfer that stopped part-way; what is on the server stays, a re-run sends the rest. */
export class TransferError extends Error {
  override readonly name = 'TransferError';
}

interface Planned extends LocalFile {
  remote: string;
}

/** What to send: a folder's files under NAME/, or one file under its --as name. */
export function planUpload(source: string, as: string | undefined): { name: string; files: Planned[] } {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(source);
  } catch {
    throw new UsageError(`${source} does not exist`, 'give a model folder (diffusers ONNX layout) or a single file');
  }
  if (stats.isFile()) return planFile(source, stats.size, as);
  const name = as ?? path.basename(path.resolve(source));
  const problem = checkModelName(name);
  if (problem) throw new UsageError(problem, 'choose another with --as NAME');
  // Only a whole model is a folder the server lists, uses and removes; anything else would lie
  // in the models directory where no command shows it.
  if (!fs.existsSync(path.join(source, 'model_index.json'))) {
    throw new UsageError(`${source} is not a model folder: it has no model_index.json`, `give a folder in the diffusers ONNX layout (model_index.json, unet/, text_encoder/, …), or one file with --as MODEL/PATH, e.g. --as sd15/unet/model.onnx`);
  }
  const files = listModelFiles(source).map((f) => ({ ...f, remote: `${name}/${f.relative}` }));
  return { name, files };
}

/** One file goes into a model's folder: MODEL/PATH, named with --as since its own name says neither. */
function planFile(source: string, size: number, as: string | undefined): { name: string; files: Planned[] } {
  const hint = `name where it goes in a model's folder with --as MODEL/PATH, e.g. --as sd15/unet/${path.basename(source)}`;
  if (as === undefined) throw new UsageError(`${source} is a single file, and a file on its own is no model`, hint);
  let segments: string[];
  try {
    // The server's own rule, so a name it would refuse is refused here, before anything connects.
    segments = splitRelativeName(as);
  } catch (error) {
    throw new UsageError(`--as ${as} is not a name inside the models directory (${(error as Error).message})`, 'use a relative name such as my-model/unet/model.onnx');
  }
  const modelProblem = checkModelName(segments[0]!);
  if (segments.length < 2 || modelProblem) throw new UsageError(`--as ${as} does not name a file inside a model's folder${modelProblem ? ` (${modelProblem})` : ''}`, hint);
  return { name: as, files: [{ local: source, relative: path.basename(source), size, remote: as }] };
}

/** FilesExist for any number of names, in calls of at most the server's MAX_FILES_PER_REQUEST, answers joined in order. */
async function filesExist(connection: Connection, files: string[], withSha256: boolean): Promise<FilesExistResponse> {
  const joined: FilesExistResponse = { files: [], exists: [], errors: [], sizes: [], sha256: [] };
  for (let from = 0; from < files.length; from += MAX_FILES_PER_REQUEST) {
    const request = { files: files.slice(from, from + MAX_FILES_PER_REQUEST), withSha256 };
    const answer = await unaryCall<FilesExistRequest, FilesExistResponse>(connection.service, connection.service.filesExist, request, withSha256 ? HASH_TIMEOUT_MS : CHECK_TIMEOUT_MS);
    joined.files.push(...answer.files);
    joined.exists.push(...answer.exists);
    joined.errors.push(...answer.errors);
    joined.sizes.push(...answer.sizes);
    joined.sha256.push(...answer.sha256);
  }
  return joined;
}

/**
 * Which files the server already has, byte for byte. Sizes come with every FilesExist answer;
 * only files of the same size are hashed, on both sides at once, so a fresh upload costs no
 * extra read and a re-run after an interruption reads each finished file once per side.
 */
async function alreadyThere(connection: Connection, files: Planned[], onProgress: ProgressListener | undefined): Promise<Set<string>> {
  const sizes = await filesExist(connection, files.map((f) => f.remote), false);
  const candidates = files.filter((f, i) => sizes.exists[i] && Number(sizes.sizes[i] ?? -1) === f.size);
  if (candidates.length === 0) return new Set();
  const total = candidates.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  const localHashes = (async () => {
    const hashes: string[] = [];
    for (const f of candidates) {
      let fileDone = 0;
      hashes.push(
        await localSha256(f.local, (n) => {
          fileDone += n;
          done += n;
          onProgress?.({ phase: 'checking', file: f.remote, fileDone, fileSize: f.size, done, total });
        }),
      );
    }
    return hashes;
  })();
  const [remote, local] = await Promise.all([filesExist(connection, candidates.map((f) => f.remote), true), localHashes]);
  return new Set(candidates.filter((f, i) => remote.sha256[i] !== '' && remote.sha256[i] === local[i]).map((f) => f.remote));
}

/**
 * Uploads a model folder (or one file) to a server over UploadFile, each file with its SHA-256
 * checked by the server, skipping files the server already has with the same hash: run again
 * after an interruption, it sends only what is missing or different.
 */
export async function uploadModel(connection: Connection, source: string, options: ModelUploadOptions = {}): Promise<ModelUploadResult> {
  const started = performance.now();
  const { name, files } = planUpload(source, options.as);
  const skip = await alreadyThere(connection, files, options.onProgress);
  const toSend = files.filter((f) => !skip.has(f.remote));
  const total = toSend.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  const send = async (f: Planned) => {
    let fileDone = 0;
    const report = () => options.onProgress?.({ phase: 'sending', file: f.remote, fileDone, fileSize: f.size, done, total });
    report();
    try {
      await uploadLocalFile(connection.service, f.local, f.remote, {
        signal: options.signal,
        onBytes: (n) => {
          fileDone += n;
          done += n;
          report();
        },
      });
    } catch (error) {
      throw uploadFailure(f.remote, error, options.signal);
    }
  };
  const { small, large, last } = transferOrder(toSend);
  await mapLimited(small, SMALL_FILE_STREAMS, send);
  for (const f of large) await send(f);
  for (const f of last) await send(f);
  const result: UploadedFile[] = files.map((f) => ({ remote: f.remote, bytes: f.size, sent: !skip.has(f.remote) }));
  return {
    name,
    files: result,
    filesSent: toSend.length,
    filesSkipped: files.length - toSend.length,
    bytesSent: total,
    bytesSkipped: files.reduce((sum, f) => sum + f.size, 0) - total,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Names the file; a transfer cut short says that a re-run finishes it. */
function uploadFailure(remote: string, error: unknown, signal: AbortSignal | undefined): Error {
  const code = (error as Partial<ServiceError>).code;
  const rerun = 'run the same command again: the files the server has are skipped and the rest are sent';
  if (signal?.aborted || code === status.CANCELLED) return new TransferError(`the upload was interrupted while sending ${remote}; ${rerun}`);
  if (code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED) return new TransferError(`the connection was lost while sending ${remote} (${explainFailure(error)}); ${rerun}`);
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new TransferError(`${remote}: the local file disappeared during the upload`);
  return new TransferError(`sending ${remote} failed: ${explainFailure(error)}`);
}
