import os from 'node:os';
import path from 'node:path';

import { readConfigFile, SECRETS_FILE_NAME } from '../config/config-file.js';
import { UsageError } from '../config/errors.js';
import { resolvePaths, SYSTEM_HOME, type Paths } from '../config/paths.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { execaRunner, type CommandRunner } from './command-runner.js';
import { createManager, detectManager } from './manager.js';
import type { ServiceManager } from './service-manager.js';
import { serviceFilePath, type ManagerKind, type ServicePlan } from './plan.js';

export interface ServiceTarget {
  name: string;
  manager: 'auto' | ManagerKind;
  scope?: 'user' | 'system' | undefined;
  env: NodeJS.ProcessEnv;
  runner?: CommandRunner;
}

export interface LocatedService {
  kind: ManagerKind;
  plan: ServicePlan;
  paths: Paths;
  env: NodeJS.ProcessEnv;
  /** undefined for 'none'. */
  manager: ServiceManager | undefined;
  serviceFile: string | undefined;
}

/** Root's default is the system service; a system install keeps everything under SYSTEM_HOME. */
export function scopeAndEnv(scope: 'user' | 'system' | undefined, env: NodeJS.ProcessEnv): { scope: 'user' | 'system'; env: NodeJS.ProcessEnv } {
  const chosen = scope ?? (process.getuid?.() === 0 ? 'system' : 'user');
  return { scope: chosen, env: chosen === 'system' && !env.DTS_UTIL_HOME ? { ...env, DTS_UTIL_HOME: SYSTEM_HOME } : env };
}

/** The service an install made (or would make) for this name, scope and environment. */
export async function locateService(target: ServiceTarget): Promise<LocatedService> {
  const runner = target.runner ?? execaRunner;
  const { scope, env } = scopeAndEnv(target.scope, target.env);
  const paths = resolvePaths(env);
  const kind = target.manager === 'auto' ? await detectManager(process.platform, runner) : target.manager;
  const plan: ServicePlan = {
    name: target.name,
    manager: kind,
    scope,
    nodePath: process.execPath,
    entryPoint: path.join(PACKAGE_ROOT, 'bin', 'run.js'),
    environment: env.DTS_UTIL_HOME ? { DTS_UTIL_HOME: path.resolve(env.DTS_UTIL_HOME) } : {},
    secretsFile: path.join(paths.configDir, SECRETS_FILE_NAME),
    configDir: paths.configDir,
    tlsDir: paths.tlsDir,
    logDir: paths.logDir,
    modelsDir: readConfigFile(paths.configDir).modelPath ?? paths.modelsDir,
  };
  // The manager writes where serviceFilePath says, for the same home (tests and sudo -E move it).
  const homeDir = env.HOME || os.homedir();
  const manager = kind === 'none' ? undefined : createManager(kind, runner, { homeDir });
  return { kind, plan, paths, env, manager, serviceFile: kind === 'none' ? undefined : serviceFilePath(plan, homeDir) };
}

/** For start/stop/status/logs: a service manager is needed to do anything. */
export function requireManager(located: LocatedService): ServiceManager {
  if (!located.manager) {
    throw new UsageError('no service manager is in use here, so there is no service to control', 'run the server yourself with `dts-util serve`, or install it on a machine with systemd or launchd');
  }
  return located.manager;
}
