import fs from 'node:fs';
import path from 'node:path';

import { UsageError } from '../config/errors.js';
import { listModels } from '../diffusion/model-catalog.js';
import { sizeOnDisk as folderBytes } from '../diffusion/model-inventory.js';
import { checkModelName } from './local-files.js';

export interface InstalledModel {
  name: string;
  dir: string;
  builtin: boolean;
}

/** Bytes that removing `dir` frees: a link is only itself; a folder, every file under it (links inside not followed). */
export function sizeOnDisk(dir: string): number {
  const stats = fs.lstatSync(dir);
  return stats.isDirectory() ? folderBytes(dir) : stats.size;
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
