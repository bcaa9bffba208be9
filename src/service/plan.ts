import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { UsageError } from '../config/errors.js';
import { makeDirectorySync } from '../util/make-directory.js';

export type ManagerKind = 'systemd' | 'launchd' | 'none';

/**
 * What an install puts in place, independent of the service manager: the unit and the plist are
 * both rendered from it, and the managers find their files through it.
 */
export interface ServicePlan {
  /** Service name, default 'dts-util': systemd unit `<name>.service`, launchd label `com.dts-util.<name>`. */
  name: string;
  manager: ManagerKind;
  /** systemd: a user unit (~/.config/systemd/user) or a system unit (/etc/systemd/system); launchd: LaunchAgent or LaunchDaemon. */
  scope: 'user' | 'system';
  /** Absolute path of the Node binary to run (process.execPath at install time). */
  nodePath: string;
  /** Absolute path of bin/run.js. */
  entryPoint: string;
  /** Non-secret variables for the service (e.g. DTS_UTIL_HOME when set). */
  environment: Record<string, string>;
  /** Absolute path of the 0600 KEY=VALUE secrets file; may not exist. Never read by the renderers. */
  secretsFile: string;
  configDir: string;
  tlsDir: string;
  logDir: string;
  modelsDir: string;
  /** Files the server reads from outside its own folders (a supplied TLS certificate and key). */
  readFiles?: string[];
  /** System services only: run as this user (systemd User=, launchd UserName). */
  user?: string;
}

export const DEFAULT_SERVICE_NAME = 'dts-util';

/** Unit names and launchd labels allow more, but paths and command lines stay simple with these. */
const SERVICE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** Refuses names that could escape the unit folder or need quoting (`../x`, spaces, `@`). */
export function checkServiceName(name: string): string {
  if (!SERVICE_NAME_PATTERN.test(name) || name.includes('..')) {
    throw new UsageError(`invalid service name ${JSON.stringify(name)}`, 'use letters, digits, ".", "_" and "-" (up to 100), starting with a letter or digit');
  }
  return name;
}

/** The systemd unit name, `<name>.service`. */
export function systemdUnitName(plan: Pick<ServicePlan, 'name'>): string {
  return `${checkServiceName(plan.name)}.service`;
}

/** The launchd label, `com.dts-util.<name>` (reverse-DNS, as launchd expects; the name keeps installs apart). */
export function launchdLabel(plan: Pick<ServicePlan, 'name'>): string {
  return `com.dts-util.${checkServiceName(plan.name)}`;
}

/**
 * Where the unit or plist goes:
 * - systemd user: `~/.config/systemd/user/<name>.service` (the user manager's own search path; it
 *   does not see a shell's XDG_CONFIG_HOME, so the fixed folder is the one it always reads);
 * - systemd system: `/etc/systemd/system/<name>.service`;
 * - launchd user: `~/Library/LaunchAgents/<label>.plist`; system: `/Library/LaunchDaemons/<label>.plist`.
 *
 * `rootDir` moves the system-wide folders (tests point it at a temporary folder).
 */
export function serviceFilePath(plan: ServicePlan, homeDir: string = os.homedir(), rootDir = '/'): string {
  switch (plan.manager) {
    case 'systemd':
      return plan.scope === 'user'
        ? path.join(homeDir, '.config', 'systemd', 'user', systemdUnitName(plan))
        : path.join(rootDir, 'etc', 'systemd', 'system', systemdUnitName(plan));
    case 'launchd':
      return plan.scope === 'user'
        ? path.join(homeDir, 'Library', 'LaunchAgents', `${launchdLabel(plan)}.plist`)
        : path.join(rootDir, 'Library', 'LaunchDaemons', `${launchdLabel(plan)}.plist`);
    case 'none':
      throw new Error('a plan without a service manager has no service file');
  }
}

/** The files launchd writes the server's standard output (JSON log lines) and standard error to. */
export function launchdLogFiles(plan: ServicePlan): { stdout: string; stderr: string } {
  const name = checkServiceName(plan.name);
  return { stdout: path.join(plan.logDir, `${name}.log`), stderr: path.join(plan.logDir, `${name}.err.log`) };
}

/**
 * Writes a unit or plist: parent folders made as needed, mode 0644 whatever the umask (service
 * definitions hold no secret, and the service manager must read them), replaced atomically so the
 * manager never reads half a file.
 */
export function writeServiceFile(file: string, text: string): void {
  makeDirectorySync(path.dirname(file), 0o755);
  const staging = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(staging, text, { mode: 0o644 });
    fs.chmodSync(staging, 0o644);
    fs.renameSync(staging, file);
  } finally {
    fs.rmSync(staging, { force: true });
  }
}

/** Deletes a unit or plist; one that is already gone is not an error. Returns whether it existed. */
export function removeServiceFile(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
