import fs from 'node:fs';
import path from 'node:path';

import { CONFIG_FILE_NAME, SECRETS_FILE_NAME } from '../config/config-file.js';
import { UsageError } from '../config/errors.js';
import { locateService, type ServiceTarget } from './locate.js';

export interface UninstallRequest extends ServiceTarget {
  purge: boolean;
  yes: boolean;
  confirm?: (question: string) => Promise<boolean>;
}

export interface UninstallResult {
  removed: string[];
  kept: string[];
  /** False when there was nothing to remove: uninstalling twice is not an error. */
  changed: boolean;
}

/**
 * Stops and removes the service and everything the tool wrote (config, secrets, certificates,
 * logs); the models stay unless purge. Safe to run twice, or after a half-finished install.
 */
export async function uninstall(request: UninstallRequest): Promise<UninstallResult> {
  const { plan, paths, manager, serviceFile } = await locateService(request);
  const modelsDir = plan.modelsDir;
  const removed: string[] = [];
  const kept: string[] = [];

  if (manager && serviceFile && fs.existsSync(serviceFile)) {
    await manager.stop(plan);
    await manager.disable(plan);
    await manager.remove(plan);
    removed.push(serviceFile);
  }

  if (request.purge && fs.existsSync(modelsDir)) {
    const ok = request.yes || (await request.confirm?.(`delete every model in ${modelsDir}?`));
    if (!ok) throw new UsageError(`--purge would delete the models in ${modelsDir}`, 'add -y/--yes to confirm');
  }

  const ours = [path.join(paths.configDir, CONFIG_FILE_NAME), path.join(paths.configDir, SECRETS_FILE_NAME), paths.tlsDir, paths.logDir, ...(request.purge ? [modelsDir] : [])];
  for (const target of ours) {
    if (!fs.existsSync(target)) continue;
    fs.rmSync(target, { recursive: true, force: true });
    removed.push(target);
  }
  if (!request.purge && fs.existsSync(modelsDir)) kept.push(modelsDir);
  // Our own folders go when nothing of the user's is left in them; a --model-path folder's parent
  // is the user's, never ours to remove.
  const ownFolders = [paths.configDir, ...(modelsDir === paths.modelsDir ? [path.dirname(paths.modelsDir)] : [])];
  for (const dir of ownFolders) {
    if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) {
      fs.rmdirSync(dir);
      removed.push(dir);
    }
  }
  return { removed, kept, changed: removed.length > 0 };
}
