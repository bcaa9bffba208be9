import fs from 'node:fs';

import type { Check } from '../client/check-result.js';
import type { CommandRunner } from './command-runner.js';
import { locateService } from './locate.js';
import type { ManagerKind } from './plan.js';

/**
 * The `service` check of `dts-util test` on the machine of an install: is the installed service
 * running? undefined when no service is installed here (a foreground `serve`, a remote server).
 */
export async function checkInstalledService(options: { name: string; env: NodeJS.ProcessEnv; manager?: 'auto' | ManagerKind; scope?: 'user' | 'system'; runner?: CommandRunner }): Promise<Check | undefined> {
  const located = await locateService({ ...options, manager: options.manager ?? 'auto' });
  if (!located.manager || !located.serviceFile || !fs.existsSync(located.serviceFile)) return undefined;
  const started = performance.now();
  const active = await located.manager.isActive(located.plan);
  const what = `${located.kind} service ${located.plan.name}`;
  return {
    name: 'service',
    ok: active,
    detail: active ? `${what} is running` : `${what} is installed but not running: start it with \`dts-util start\`; \`dts-util logs\` shows why it stopped`,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
  };
}
