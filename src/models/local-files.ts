import fs from 'node:fs';
import path from 'node:path';

export interface LocalFile {
  /** Absolute path on this machine. */
  local: string;
  /** '/'-separated path inside the model folder. */
  relative: string;
  size: number;
}

/**
 * Every regular file under a model folder, in the order a transfer should move them: sorted, with
 * model_index.json last. A model folder counts as a model only once model_index.json is there
 * (ListModels, generation), so an interrupted transfer never leaves a half model that looks whole.
 * Hidden entries (.git, .DS_Store, a pull's staging) are not part of a model and are left out.
 */
export function listModelFiles(dir: string): LocalFile[] {
  const files: LocalFile[] = [];
  const walk = (folder: string, prefix: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const local = path.join(folder, entry.name);
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      const stats = fs.statSync(local);
      if (stats.isDirectory()) walk(local, relative);
      else if (stats.isFile()) files.push({ local, relative, size: stats.size });
    }
  };
  walk(dir, '');
  return sortForTransfer(files);
}

/** Sorted by path, model_index.json last (see listModelFiles). */
export function sortForTransfer<T extends { relative: string }>(files: T[]): T[] {
  const last = (f: T) => (f.relative === 'model_index.json' ? 1 : 0);
  return [...files].sort((a, b) => last(a) - last(b) || (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** A model name is one folder name in the models directory: no '/', no '..', not hidden. */
export function checkModelName(name: string): string | undefined {
  if (MODEL_NAME.test(name) && !name.includes('..')) return undefined;
  return `"${name}" is not a usable model name: use letters, digits, '.', '_', '+' and '-' (at most 128, not starting with '.' or '-')`;
}
