import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CommandError, type CommandResult, type CommandRunner } from './command-runner.js';
import type { ManagerOptions, ServiceManager } from './service-manager.js';
import { removeServiceFile, serviceFilePath, systemdUnitName, writeServiceFile, type ServicePlan } from './plan.js';

/** systemctl's exit status for "unit not loaded / not found" (LSB "program is not installed"). */
const EXIT_NOT_INSTALLED = 5;
/** What systemctl prints when there is nothing to stop or disable; no reason to fail then. */
const NOTHING_THERE = /not loaded|not found|does not exist|no such file/i;

/** systemctl for a user unit (`systemctl --user …`) or a system unit. */
export class SystemdManager implements ServiceManager {
  readonly kind = 'systemd' as const;
  private readonly homeDir: string;
  private readonly rootDir: string;

  constructor(
    private readonly runner: CommandRunner,
    options: ManagerOptions = {},
  ) {
    this.homeDir = options.homeDir ?? os.homedir();
    this.rootDir = options.rootDir ?? '/';
  }

  async available(): Promise<boolean> {
    if (!fs.existsSync(path.join(this.rootDir, 'run', 'systemd', 'system'))) return false;
    const { exitCode } = await this.runner.run('systemctl', ['--version'], { reject: false });
    return exitCode === 0;
  }

  async install(plan: ServicePlan, fileText: string): Promise<void> {
    writeServiceFile(this.unitFile(plan), fileText);
    await this.systemctl(plan, ['daemon-reload']);
  }

  async enable(plan: ServicePlan): Promise<void> {
    await this.systemctl(plan, ['enable', systemdUnitName(plan)]);
  }

  async start(plan: ServicePlan): Promise<void> {
    await this.systemctl(plan, ['start', systemdUnitName(plan)]);
  }

  async stop(plan: ServicePlan): Promise<void> {
    await this.tolerateMissing(plan, ['stop', systemdUnitName(plan)]);
  }

  async restart(plan: ServicePlan): Promise<void> {
    await this.systemctl(plan, ['restart', systemdUnitName(plan)]);
  }

  async disable(plan: ServicePlan): Promise<void> {
    await this.tolerateMissing(plan, ['disable', systemdUnitName(plan)]);
  }

  async remove(plan: ServicePlan): Promise<void> {
    removeServiceFile(this.unitFile(plan));
    await this.systemctl(plan, ['daemon-reload']);
    // A unit that failed stays listed (and keeps its failed state) after its file is gone; this
    // clears it. It fails harmlessly when there is nothing to clear.
    await this.systemctl(plan, ['reset-failed', systemdUnitName(plan)], false);
  }

  async isActive(plan: ServicePlan): Promise<boolean> {
    const { exitCode } = await this.systemctl(plan, ['is-active', '--quiet', systemdUnitName(plan)], false);
    return exitCode === 0;
  }

  async status(plan: ServicePlan): Promise<string> {
    // Exits 3 for a stopped unit and 4 for an unknown one; either way the text is the answer.
    const { stdout, stderr } = await this.systemctl(plan, ['status', '--no-pager', '--full', systemdUnitName(plan)], false);
    return [stdout.trim(), stderr.trim()].filter(Boolean).join('\n');
  }

  logsCommand(plan: ServicePlan, follow: boolean, messagesOnly = false): { command: string; args: string[] } {
    // -o cat: the message alone, which for the server's lines is its JSON object.
    return { command: 'journalctl', args: [...this.scopeArgs(plan), '-u', systemdUnitName(plan), ...(follow ? ['-f'] : []), ...(messagesOnly ? ['-o', 'cat'] : [])] };
  }

  private unitFile(plan: ServicePlan): string {
    return serviceFilePath({ ...plan, manager: 'systemd' }, this.homeDir, this.rootDir);
  }

  private scopeArgs(plan: ServicePlan): string[] {
    return plan.scope === 'user' ? ['--user'] : [];
  }

  private systemctl(plan: ServicePlan, args: string[], reject = true): Promise<CommandResult> {
    return this.runner.run('systemctl', [...this.scopeArgs(plan), ...args], { reject });
  }

  /** stop and disable: a unit that was never installed, or is already gone, is already stopped and disabled. */
  private async tolerateMissing(plan: ServicePlan, args: string[]): Promise<void> {
    const result = await this.systemctl(plan, args, false);
    if (result.exitCode === 0 || result.exitCode === EXIT_NOT_INSTALLED || NOTHING_THERE.test(result.stderr)) return;
    throw new CommandError('systemctl', [...this.scopeArgs(plan), ...args], result);
  }
}
