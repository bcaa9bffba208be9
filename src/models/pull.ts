import fs from 'node:fs/promises';
import path from 'node:path';

import { UsageError } from '../config/errors.js';
import { makeDirectory } from '../util/make-directory.js';
import { DiskFullError, downloadFile, sizeOf } from './download-file.js';
import { checkRepo, listRepoFiles, resolveUrl, type Hub, type HubFile } from './hub-client.js';
import { checkModelName, listModelFiles, sortForTransfer } from './local-files.js';
import { pipelineFiles } from './pipeline-files.js';
import type { ProgressListener } from './progress.js';

/** Inside the staging folder: what each finished file was checked against, so a re-run trusts only what still matches. */
const VERIFIED_FILE = '.verified.json';

export interface PullOptions {
  hub: Hub;
  repo: string;
  revision: string;
  /** The models directory the model lands in. */
  modelsDir: string;
  /** Model name (default: the repository's last segment). */
  as?: string;
  /** Leave the finished model in its staging folder (for --remote, which uploads it from there). */
  keepStaged?: boolean;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface PulledFile {
  path: string;
  bytes: number;
  /** false: it was already complete in the staging folder from an earlier run. */
  downloaded: boolean;
}

export interface PullResult {
  name: string;
  repo: string;
  revision: string;
  /** The model's folder (or, with keepStaged, its staging folder). */
  dir: string;
  files: PulledFile[];
  bytesDownloaded: number;
  seconds: number;
}

/** `.NAME.partial`: hidden, so no listing shows a model until it is whole. */
export function stagingDir(modelsDir: string, name: string): string {
  return path.join(modelsDir, `.${name}.partial`);
}

/** What a finished file was verified against: its digest, else its size. */
const identity = (f: HubFile) => f.sha256 ?? f.blobId ?? `size:${f.size ?? '?'}`;

async function readVerified(staging: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await fs.readFile(path.join(staging, VERIFIED_FILE), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Downloads the files a diffusers ONNX pipeline needs from a Hugging Face style hub into a hidden
 * staging folder in the models directory, each checked against the hub's size and digest, then
 * renames the folder into place: the model appears only when complete. Interrupted, it keeps what
 * it has; a re-run reuses finished files and resumes the partial one with an HTTP range.
 */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  const started = performance.now();
  const { hub, repo, revision, modelsDir } = options;
  checkRepo(repo);
  const name = options.as ?? repo.split('/').at(-1)!;
  const problem = checkModelName(name);
  if (problem) throw new UsageError(problem, 'choose another with --as NAME');
  const target = path.join(modelsDir, name);
  const alreadyThere = `a model named ${name} is already in ${modelsDir}`;
  if (!options.keepStaged && (await exists(target))) throw new UsageError(alreadyThere, `remove it first (dts-util models rm ${name}) or pick another name with --as`);

  const { files: selected, missing } = pipelineFiles(await listRepoFiles(hub, repo, revision, options.signal));
  if (missing.length > 0) {
    throw new UsageError(
      `${repo} at revision ${revision} is not a diffusers ONNX pipeline: it has no ${missing.join(', ')}`,
      'pull a repository with an ONNX export (model_index.json, unet/model.onnx, …); some keep it on another branch: try --revision onnx',
    );
  }
  const files = sortForTransfer(selected.map((f) => ({ ...f, relative: f.path })));
  const staging = stagingDir(modelsDir, name);
  const resuming = await exists(staging);
  await makeDirectory(staging);
  const verified = await readVerified(staging);

  // What is already finished (and still what the hub lists), what is partly there, what is to come.
  const done = new Set<string>();
  for (const f of files) if (verified[f.path] === identity(f) && (await exists(path.join(staging, f.path)))) done.add(f.path);
  const todo = files.filter((f) => !done.has(f.path));
  const total = todo.reduce((sum, f) => sum + (f.size ?? 0), 0);
  try {
    await checkFreeSpace(staging, todo, total);
  } catch (error) {
    // Refused before a byte came: leave no empty staging folder behind (a resumed one keeps its files).
    if (!resuming) await fs.rm(staging, { recursive: true, force: true });
    throw error;
  }

  let progressed = 0;
  let downloadedBytes = 0;
  for (const f of todo) {
    const finalPath = path.join(staging, f.path);
    const fileSize = f.size ?? 0;
    let fileDone = 0;
    await downloadFile({
      hub,
      url: resolveUrl(hub, repo, revision, f.path),
      partPath: `${finalPath}.part`,
      finalPath,
      file: f,
      signal: options.signal,
      onBytes: (n) => {
        fileDone += n;
        progressed += n;
        options.onProgress?.({ phase: 'downloading', file: f.path, fileDone, fileSize, done: progressed, total });
      },
    });
    downloadedBytes += fileSize;
    verified[f.path] = identity(f);
    await fs.writeFile(path.join(staging, VERIFIED_FILE), JSON.stringify(verified, null, 1));
  }

  // Left from an earlier run against another revision (or a part file of a file no longer listed).
  const wanted = new Set(files.map((f) => f.path));
  for (const stale of listModelFiles(staging).filter((f) => !wanted.has(f.relative))) await fs.rm(stale.local, { force: true });

  let dir = staging;
  if (!options.keepStaged) {
    if (await exists(target)) throw new UsageError(`${alreadyThere} (it appeared during the download; the files stay in ${staging})`, `remove it (dts-util models rm ${name}) and run the same command again`);
    await fs.rm(path.join(staging, VERIFIED_FILE), { force: true });
    await fs.rename(staging, target);
    dir = target;
  }
  return {
    name,
    repo,
    revision,
    dir,
    files: files.map((f) => ({ path: f.path, bytes: f.size ?? 0, downloaded: !done.has(f.path) })),
    bytesDownloaded: downloadedBytes,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Refuses up front when the files still to come cannot fit, rather than failing gigabytes in. */
async function checkFreeSpace(staging: string, todo: HubFile[], total: number): Promise<void> {
  let have = 0;
  for (const f of todo) have += await sizeOf(path.join(staging, `${f.path}.part`));
  const needed = total - have;
  const stats = await fs.statfs(staging);
  const free = stats.bavail * stats.bsize;
  if (needed > free) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
    throw new DiskFullError(`not enough space in ${path.dirname(staging)}: the model needs ${gib(needed)} more and ${gib(free)} is free; free some space or choose another models directory with --model-path`);
  }
}
