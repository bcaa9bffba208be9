/**
 * A cheap identity for what a model folder holds now: size, modification time and inode of every
 * file a loaded model reads. An upload that replaces a file (written beside it, then renamed over
 * it) changes the inode and the time, so a folder whose files changed never matches the sessions
 * opened from its old files. A few stat() calls, cheap enough for every request.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Top-level files a pipeline reads. */
const FILES = ['model_index.json'];
/** Folders whose files a pipeline reads: the ONNX parts (graphs, external weights, configs), tokenizers, the scheduler. */
const FOLDERS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'tokenizer', 'tokenizer_2', 'scheduler'];

function stamp(file: string): string {
  try {
    const s = fs.statSync(file); // follows links, as ONNX Runtime and the readers do
    return `${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch {
    return '-';
  }
}

function filesIn(dir: string, folder: string): string[] {
  try {
    return fs
      .readdirSync(path.join(dir, folder))
      .filter((name) => !name.startsWith('.'))
      .sort()
      .map((name) => `${folder}/${name}`);
  } catch {
    return [];
  }
}

/** Equal for two calls exactly when no file the model reads was added, removed or changed in between (to the filesystem's time resolution). */
export function modelFingerprint(dir: string): string {
  const files = [...FILES, ...FOLDERS.flatMap((folder) => filesIn(dir, folder))];
  return files.map((file) => `${file}=${stamp(path.join(dir, file))}`).join('|');
}
