import type { ManagerKind, ServicePlan } from './plan.js';

/**
 * A service manager's verbs for one service. Every method is safe to run twice and after a
 * half-finished install: stopping or disabling what is not loaded, or removing what is not
 * there, succeeds and changes nothing.
 */
export interface ServiceManager {
  readonly kind: Exclude<ManagerKind, 'none'>;
  /** Whether this manager runs on this machine (not merely installed). */
  available(): Promise<boolean>;
  /** Writes the unit or plist (mode 0644, folders made as needed) and has the manager read it. */
  install(plan: ServicePlan, fileText: string): Promise<void>;
  /** Starts it at boot (system) or login (user). */
  enable(plan: ServicePlan): Promise<void>;
  start(plan: ServicePlan): Promise<void>;
  stop(plan: ServicePlan): Promise<void>;
  /** Stops and starts it, starting it when it was not running. */
  restart(plan: ServicePlan): Promise<void>;
  disable(plan: ServicePlan): Promise<void>;
  /** Deletes the unit or plist and has the manager forget it. */
  remove(plan: ServicePlan): Promise<void>;
  isActive(plan: ServicePlan): Promise<boolean>;
  /** The manager's own description of the service, for people. */
  status(plan: ServicePlan): Promise<string>;
  /** The command that shows (or with follow, follows) the service's logs, for the user's terminal. */
  /** The command that shows the service's log; messagesOnly drops the manager's own prefixes (for --json). */
  logsCommand(plan: ServicePlan, follow: boolean, messagesOnly?: boolean): { command: string; args: string[] };
}

export interface ManagerOptions {
  /** The user's home: where user units and LaunchAgents go. Default os.homedir(). */
  homeDir?: string;
  /** The file-system root: where /etc/systemd/system, /Library and /run/systemd are looked for. Default '/'. */
  rootDir?: string;
  /** launchd's gui/<uid> domain. Default process.getuid(). */
  uid?: number;
}
