import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { makeDirectorySync } from '../util/make-directory.js';
import { CommandError, type CommandResult, type CommandRunner } from './command-runner.js';
import type { ManagerOptions, ServiceManager } from './service-manager.js';
import { launchdLabel, launchdLogFiles, removeServiceFile, serviceFilePath, writeServiceFile, type ServicePlan } from './plan.js';

/**
 * launchctl's domain verbs (macOS 10.11+): a LaunchAgent in the user's `gui/<uid>` domain, or a
 * LaunchDaemon in the `system` domain.
 *
 * launchd has no "daemon-reload": a loaded job keeps the definition it was bootstrapped with. So
 * stop unloads the job (bootout; with KeepAlive a killed job would come back), start loads it
 * (bootstrap, which starts it through RunAtLoad) or kicks an idle loaded one, and install unloads
 * a job whose plist changed so the next start reads the new one.
 */
export class LaunchdManager implements ServiceManager {
  readonly kind = 'launchd' as const;
  private readonly homeDir: string;
  private readonly rootDir: string;
  private readonly uid: number;

  constructor(
    private readonly runner: CommandRunner,
    options: ManagerOptions = {},
  ) {
    this.homeDir = options.homeDir ?? os.homedir();
    this.rootDir = options.rootDir ?? '/';
    this.uid = options.uid ?? process.getuid?.() ?? 0;
  }

  async available(): Promise<boolean> {
    // launchd is PID 1 on every macOS; launchctl's presence is the sign that this is one.
    return fs.existsSync(path.join(this.rootDir, 'bin', 'launchctl'));
  }

  async install(plan: ServicePlan, fileText: string): Promise<void> {
    const file = this.plistFile(plan);
    const previous = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (previous !== undefined && previous !== fileText && (await this.loaded(plan))) await this.bootout(plan);
    // launchd opens StandardOutPath itself and does not make its folder; without it the job fails to start.
    makeDirectorySync(plan.logDir, 0o700);
    writeServiceFile(file, fileText);
  }

  async enable(plan: ServicePlan): Promise<void> {
    await this.launchctl(['enable', this.target(plan)]);
  }

  async start(plan: ServicePlan): Promise<void> {
    if (await this.loaded(plan)) await this.launchctl(['kickstart', this.target(plan)]);
    else await this.launchctl(['bootstrap', this.domain(plan), this.plistFile(plan)]);
  }

  async stop(plan: ServicePlan): Promise<void> {
    if (await this.loaded(plan)) await this.bootout(plan);
  }

  async restart(plan: ServicePlan): Promise<void> {
    if (await this.loaded(plan)) await this.launchctl(['kickstart', '-k', this.target(plan)]);
    else await this.launchctl(['bootstrap', this.domain(plan), this.plistFile(plan)]);
  }

  async disable(plan: ServicePlan): Promise<void> {
    // Recorded in launchd's overrides whether or not the job is loaded: safe on anything.
    await this.launchctl(['disable', this.target(plan)]);
  }

  async remove(plan: ServicePlan): Promise<void> {
    if (await this.loaded(plan)) await this.bootout(plan);
    removeServiceFile(this.plistFile(plan));
  }

  async isActive(plan: ServicePlan): Promise<boolean> {
    const { exitCode, stdout } = await this.print(plan);
    return exitCode === 0 && /^\s*state = running\s*$/m.test(stdout);
  }

  async status(plan: ServicePlan): Promise<string> {
    const { exitCode, stdout, stderr } = await this.print(plan);
    return exitCode === 0 ? stdout.trim() : `${this.target(plan)} is not loaded${stderr.trim() ? ` (${stderr.trim()})` : ''}`;
  }

  logsCommand(plan: ServicePlan, follow: boolean, messagesOnly = false): { command: string; args: string[] } {
    const logs = launchdLogFiles(plan);
    // -q: no "==> file <==" headers between the two files.
    return { command: 'tail', args: [...(follow ? ['-F'] : []), ...(messagesOnly ? ['-q'] : []), '-n', '100', logs.stdout, logs.stderr] };
  }

  private domain(plan: ServicePlan): string {
    return plan.scope === 'user' ? `gui/${this.uid}` : 'system';
  }

  private target(plan: ServicePlan): string {
    return `${this.domain(plan)}/${launchdLabel(plan)}`;
  }

  private plistFile(plan: ServicePlan): string {
    return serviceFilePath({ ...plan, manager: 'launchd' }, this.homeDir, this.rootDir);
  }

  private print(plan: ServicePlan): Promise<CommandResult> {
    return this.runner.run('launchctl', ['print', this.target(plan)], { reject: false });
  }

  private async loaded(plan: ServicePlan): Promise<boolean> {
    return (await this.print(plan)).exitCode === 0;
  }

  private async bootout(plan: ServicePlan): Promise<void> {
    // It may have gone between print and bootout (it exited, the user unloaded it): that is the goal anyway.
    const args = ['bootout', this.target(plan)];
    const result = await this.runner.run('launchctl', args, { reject: false });
    if (result.exitCode !== 0 && (await this.loaded(plan))) throw new CommandError('launchctl', args, result);
  }

  private launchctl(args: string[]): Promise<CommandResult> {
    return this.runner.run('launchctl', args, { reject: true });
  }
}
