import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { UsageError } from '../config/errors.js';
import { findModel, sizeOnDisk } from './installed.js';
import { stagingDir } from './pull.js';

export interface RemoveResult {
  name: string;
  dir: string;
  bytes: number;
}

/** What would be removed, for the confirmation question; refuses a built-in model. An interrupted pull of NAME alone is removable too. */
export function modelToRemove(modelsDir: string, name: string): RemoveResult {
  let model: ReturnType<typeof findModel>;
  try {
    model = findModel(modelsDir, name);
  } catch (error) {
    const staged = stagingDir(modelsDir, name);
    if (!(error instanceof UsageError) || !existsSync(staged)) throw error;
    return { name, dir: staged, bytes: sizeOnDisk(staged) };
  }
  if (model.builtin) throw new UsageError(`${name} is built into dts-util and cannot be removed`, 'it lives in the package, not in your models directory, and takes under 10 MB');
  return { name, dir: model.dir, bytes: sizeOnDisk(model.dir) };
}

/**
 * Removes an installed model, and an interrupted pull of the same name. The folder is first renamed
 * to a hidden name, so no listing or request ever sees a half-deleted model; a symbolic link is
 * removed as a link, never what it points to. `target` is modelToRemove's answer when the caller has it already.
 */
export async function removeModel(modelsDir: string, name: string, target = modelToRemove(modelsDir, name)): Promise<RemoveResult> {
  const link = (await fs.lstat(target.dir)).isSymbolicLink();
  if (link) {
    await fs.unlink(target.dir);
  } else {
    const doomed = path.join(modelsDir, `.${name}.removing-${crypto.randomUUID()}`);
    await fs.rename(target.dir, doomed);
    await fs.rm(doomed, { recursive: true, force: true });
  }
  await fs.rm(stagingDir(modelsDir, name), { recursive: true, force: true });
  return target;
}
