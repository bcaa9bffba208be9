import fs from 'node:fs';
import path from 'node:path';

import { UsageError } from '../config/errors.js';
import { listModels } from '../diffusion/model-catalog.js';
import { checkModelName } from './local-files.js';

export interface InstalledModel {
  name: string;
  dir: string;
  builtin: boolean;
}

/** Bytes of every file under a folder (not following links out of it). */
export function sizeOnDisk(dir: string): number {
  let total = 0;
  const stats = fs.lstatSync(dir);
  if (!stats.isDirectory()) return stats.size;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += fs.lstatSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/**
 * The model folder a command names: an installed model, a built-in one, or a folder in the models
 * directory that is no model yet (an upload that never finished) so it can still be checked and
 * removed. Anything else is a usage error that lists what is installed.
 */
export function findModel(modelsDir: string, name: string): InstalledModel {
  const problem = checkModelName(name);
  if (problem) throw new UsageError(problem);
  const models = listModels(modelsDir);
  const found = models.find((m) => m.name === name);
  if (found) return found;
  const dir = path.join(modelsDir, name);
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) return { name, dir, builtin: false };
  const known = models.map((m) => m.name).join(', ') || 'none';
  throw new UsageError(`no model named ${name} in ${modelsDir} (installed: ${known})`, 'see them with dts-util models list; another models directory is chosen with --model-path');
}
