import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p` without Node's `recursive: true`. Node's version walks back to the parent on ENOENT
 * and forward again on EEXIST, so where mkdir answers ENOENT under a parent that exists (procfs:
 * `--model-path /proc/models`) it spins at full CPU forever instead of failing. These make each
 * missing folder once, from the outermost in, and let the first error stand.
 *
 * As with `recursive: true`, an existing folder is fine; an existing file in the way is an error
 * (ENOTDIR here, where Node says EEXIST). `mode` applies to the folders created.
 */
export function makeDirectorySync(dir: string, mode?: number): void {
  for (const missing of missingFolders(dir)) {
    try {
      fs.mkdirSync(missing, { mode });
    } catch (error) {
      rethrowUnlessExists(error);
    }
  }
  assertDirectory(dir, fs.statSync(dir));
}

export async function makeDirectory(dir: string, mode?: number): Promise<void> {
  for (const missing of missingFolders(dir)) {
    try {
      await fsp.mkdir(missing, { mode });
    } catch (error) {
      rethrowUnlessExists(error);
    }
  }
  assertDirectory(dir, await fsp.stat(dir));
}

/** A folder this process can write in: made if missing, then checked (the first error is thrown). */
export function makeWritableDirectorySync(dir: string): void {
  makeDirectorySync(dir);
  fs.accessSync(dir, fs.constants.W_OK);
}

/**
 * The folders to create, outermost first: `dir` and its ancestors up to the first that exists
 * (a few stat calls, synchronous in both forms).
 */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let current = path.resolve(dir); !fs.existsSync(current); current = path.dirname(current)) {
    missing.unshift(current);
    if (path.dirname(current) === current) break;
  }
  return missing;
}

/** Made meanwhile by another process (or a concurrent upload), or a dangling symlink: the next step tells. */
function rethrowUnlessExists(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
}

function assertDirectory(dir: string, stats: fs.Stats): void {
  if (!stats.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: dir });
}
