import { Flags } from '@oclif/core';

import { BaseCommand } from './base-command.js';
import type { ManagerKind } from './service/plan.js';
import { locateService, requireManager, type LocatedService } from './service/locate.js';
import type { ServiceManager } from './service/service-manager.js';

interface TargetFlagValues {
  name: string;
  'service-manager': string;
  system?: boolean;
  user?: boolean;
}

export interface ControlResult {
  service: string;
  action: 'start' | 'stop' | 'restart';
  active: boolean;
}

/** What start/stop/restart/status/logs share: which service, and the manager that runs it. */
export abstract class ServiceCommand extends BaseCommand {
  static targetFlags = {
    name: Flags.string({ description: 'service name', default: 'dts-util' }),
    'service-manager': Flags.string({ description: 'auto, systemd or launchd', options: ['auto', 'systemd', 'launchd'], default: 'auto' }),
    system: Flags.boolean({ description: 'the system service (default for root)', exclusive: ['user'] }),
    user: Flags.boolean({ description: 'the per-user service (default for other users)', exclusive: ['system'] }),
  };

  /** start / stop / restart, then report whether it runs. */
  protected async control(flags: TargetFlagValues, action: 'start' | 'stop' | 'restart'): Promise<ControlResult> {
    const { located, manager } = await this.service(flags);
    await manager[action](located.plan);
    const active = await manager.isActive(located.plan);
    if (!this.jsonEnabled()) this.log(`${located.plan.name}: ${active ? 'running' : 'not running'}`);
    return { service: located.plan.name, action, active };
  }

  protected async service(flags: TargetFlagValues): Promise<{ located: LocatedService; manager: ServiceManager }> {
    const located = await locateService({
      name: flags.name,
      manager: flags['service-manager'] as 'auto' | ManagerKind,
      scope: flags.system ? 'system' : flags.user ? 'user' : undefined,
      env: process.env,
    });
    return { located, manager: requireManager(located) };
  }
}
