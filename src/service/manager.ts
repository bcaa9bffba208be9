import type { CommandRunner } from './command-runner.js';
import { LaunchdManager } from './launchd-manager.js';
import type { ManagerKind } from './plan.js';
import type { ManagerOptions, ServiceManager } from './service-manager.js';
import { SystemdManager } from './systemd-manager.js';

export function createManager(kind: Exclude<ManagerKind, 'none'>, runner: CommandRunner, options: ManagerOptions = {}): ServiceManager {
  return kind === 'systemd' ? new SystemdManager(runner, options) : new LaunchdManager(runner, options);
}

/**
 * The manager this machine runs: systemd where `systemctl` exists and systemd is PID 1 (it
 * creates /run/systemd/system at boot, so an installed but idle systemd — containers, WSL
 * without systemd — counts as none), launchd on macOS, else none.
 */
export async function detectManager(platform: NodeJS.Platform, runner: CommandRunner, options: ManagerOptions = {}): Promise<ManagerKind> {
  if (platform === 'darwin') return (await new LaunchdManager(runner, options).available()) ? 'launchd' : 'none';
  if (platform === 'linux') return (await new SystemdManager(runner, options).available()) ? 'systemd' : 'none';
  return 'none';
}
