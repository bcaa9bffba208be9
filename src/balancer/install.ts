import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { UsageError } from '../config/errors.js';
import { resolvePaths } from '../config/paths.js';
import { execaRunner, type CommandRunner } from '../service/command-runner.js';
import { scopeAndEnv } from '../service/locate.js';
import { createManager, detectManager } from '../service/manager.js';
import { checkServiceName, serviceFilePath, systemdUnitName, type ManagerKind, type ServicePlan } from '../service/plan.js';
import { fillTemplate } from '../service/render.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { balancerConfig, writeBalancerConfig, type BalancerFlagValues } from './balancer.js';

export interface BalancerInstallRequest {
  flags: BalancerFlagValues;
  /** Where the configuration goes; default <config dir>/<name>.cfg. */
  out: string | undefined;
  name: string;
  manager: 'auto' | 'systemd' | 'none';
  scope: 'user' | 'system' | undefined;
  /** The haproxy binary; default the one on PATH (found by the service manager). */
  haproxy: string;
  dryRun: boolean;
  env: NodeJS.ProcessEnv;
  runner?: CommandRunner;
}

export interface BalancerInstallResult {
  name: string;
  manager: ManagerKind;
  configFile: string;
  serviceFile: string | undefined;
  serviceText: string | undefined;
  /** The command that runs HAProxy with this configuration (what to run without a service manager). */
  command: string;
  dryRun: boolean;
}

/**
 * Writes the configuration, checks it with `haproxy -c`, and (systemd) installs, enables and
 * (re)starts a unit running `haproxy -Ws -f CONFIG`; with no service manager, says the command.
 */
export async function installBalancer(request: BalancerInstallRequest): Promise<BalancerInstallResult> {
  const name = checkServiceName(request.name);
  const runner = request.runner ?? execaRunner;
  const { scope, env } = scopeAndEnv(request.scope, request.env);
  const paths = resolvePaths(env);
  const configFile = path.resolve(request.out ?? path.join(paths.configDir, `${name}.cfg`));
  const config = balancerConfig(request.flags, configFile);
  const kind: ManagerKind = request.manager === 'auto' ? await detectManager(process.platform, runner) : request.manager;
  if (kind === 'launchd') throw new UsageError('balancer install knows systemd only', `use --service-manager none and run: haproxy -f ${configFile}`);
  const haproxy = haproxyPath(request.haproxy, env.PATH ?? process.env.PATH ?? '');
  const command = `${haproxy} -f ${configFile}`;
  const plan: ServicePlan = {
    name, manager: kind, scope, nodePath: process.execPath, entryPoint: path.join(PACKAGE_ROOT, 'bin', 'run.js'), environment: {},
    secretsFile: path.join(paths.configDir, 'secrets.env'), configDir: paths.configDir, tlsDir: paths.tlsDir, logDir: paths.logDir, modelsDir: paths.modelsDir,
  };
  const serviceText = kind === 'systemd' ? renderHaproxyUnit(plan, haproxy, configFile) : undefined;
  // The manager writes where serviceFilePath says, for the same home (tests and sudo -E move it).
  const homeDir = env.HOME || os.homedir();
  const manager = kind === 'systemd' ? createManager('systemd', runner, { homeDir }) : undefined;
  const serviceFile = manager ? serviceFilePath(plan, homeDir) : undefined;
  const result = { name, manager: kind, configFile, serviceFile, serviceText, command, dryRun: request.dryRun };
  if (request.dryRun) return result;

  writeBalancerConfig(config, configFile);
  const check = await runner.run(haproxy, ['-c', '-q', '-f', configFile], { reject: false });
  if (check.exitCode !== 0) throw new UsageError(`haproxy refused the configuration ${configFile}: ${(check.stderr || check.stdout).trim()}`, 'fix the flags named above and run it again');
  if (manager && serviceText) {
    await manager.install(plan, serviceText);
    await manager.enable(plan);
    await manager.restart(plan);
  }
  return result;
}

/** The unit, from templates/haproxy.service with the same placeholder rules as the server's. */
export function renderHaproxyUnit(plan: ServicePlan, haproxy: string, configFile: string): string {
  for (const value of [haproxy, configFile]) {
    if (!/^\/[A-Za-z0-9_@+=:,./-]+$/.test(value)) throw new UsageError(`${JSON.stringify(value)} must be an absolute path without spaces, quotes or %`, 'choose another --out');
  }
  const system = plan.scope === 'system';
  return fillTemplate(fs.readFileSync(path.join(PACKAGE_ROOT, 'templates', 'haproxy.service'), 'utf8'), {
    unitName: systemdUnitName(plan),
    name: plan.name,
    config: configFile,
    haproxy,
    networkDependencies: system ? 'Wants=network-online.target\nAfter=network-online.target' : '',
    wantedBy: system ? 'multi-user.target' : 'default.target',
  });
}

/** The haproxy binary: as given when absolute, else the first on PATH. */
function haproxyPath(given: string, searchPath: string): string {
  if (path.isAbsolute(given)) return given;
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, given);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return path.resolve(candidate);
    } catch {
      // not here
    }
  }
  throw new UsageError(`${given} is not installed (not found on PATH)`, 'install HAProxy 2.6 or later (Debian/Ubuntu: apt install haproxy), or give --haproxy /path/to/haproxy');
}
