import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CONFIG_FILE_NAME, SECRETS_FILE_NAME } from '../config/config-file.js';
import { UsageError } from '../config/errors.js';
import { locateService, type LocatedService, type ServiceTarget } from './locate.js';
import { serviceFilePath, type ManagerKind } from './plan.js';

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
  /** What the service manager could not do (the files went anyway). */
  warnings: string[];
}

/**
 * Stops and removes the service and everything the tool wrote (config, secrets, certificates,
 * logs); the models stay unless purge. Safe to run twice, or after a half-finished install.
 */
export async function uninstall(request: UninstallRequest): Promise<UninstallResult> {
  const located = await locateService(request);
  const { plan, paths } = located;
  const modelsDir = plan.modelsDir;
  const removed: string[] = [];
  const kept: string[] = [];
  const warnings = await removeService(located, request, removed);

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
  return { removed, kept, changed: removed.length > 0, warnings };
}

/**
 * Stops, disables and removes the unit or job, as far as its manager lets it: after a
 * half-finished install systemctl may fail (no user bus, a unit it never loaded), and the file
 * must go anyway. With no manager running, a unit or job an install left behind is still found
 * and removed.
 */
async function removeService(located: LocatedService, request: UninstallRequest, removed: string[]): Promise<string[]> {
  const { plan, manager, serviceFile } = located;
  const warnings: string[] = [];
  if (manager && serviceFile && fs.existsSync(serviceFile)) {
    for (const [verb, action] of [['stop', () => manager.stop(plan)], ['disable', () => manager.disable(plan)], ['unload', () => manager.remove(plan)]] as const) {
      try {
        await action();
      } catch (error) {
        warnings.push(`could not ${verb} ${plan.name}: ${(error as Error).message}`);
      }
    }
    fs.rmSync(serviceFile, { force: true });
    removed.push(serviceFile);
  }
  if (request.manager === 'auto' && located.kind === 'none') {
    const homeDir = located.env.HOME || os.homedir();
    for (const kind of ['systemd', 'launchd'] as ManagerKind[]) {
      const file = serviceFilePath({ ...plan, manager: kind }, homeDir);
      if (!fs.existsSync(file)) continue;
      fs.rmSync(file, { force: true });
      removed.push(file);
      warnings.push(`${kind} is not running here, so ${plan.name} was not stopped; its file ${file} was removed`);
    }
  }
  return warnings;
}
