import fs from 'node:fs';
import path from 'node:path';

import { runSmokeTest } from '../client/smoke-test.js';
import { CONFIG_FILE_NAME, readSecretsFile, SECRETS_FILE_NAME, type ConfigFile } from '../config/config-file.js';
import { UsageError } from '../config/errors.js';
import { DATADOG_KEY_ENV, DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_UPLOAD_IDLE_TIMEOUT_SECONDS, isLoopbackHost, resolveServerSettings, SECRET_ENV, type ServerFlags, type ServerSettings } from '../config/settings.js';
import { makeDirectorySync } from '../util/make-directory.js';
import { CA_CERT_FILE, certificateNames, ensureCertificates, fingerprint } from '../tls/certificates.js';
import { execaRunner, type CommandRunner } from './command-runner.js';
import { FileSnapshot } from './file-snapshot.js';
import { configChanged, generateSecret, writeConfig, writeSecrets } from './install-files.js';
import { readModelAliases } from '../config/model-aliases.js';
import { loadSuppliedCertificate } from '../tls/supplied-certificate.js';
import { locateService, type LocatedService, type ServiceTarget } from './locate.js';
import type { ServiceManager } from './service-manager.js';
import type { ManagerKind, ServicePlan } from './plan.js';
import { portInUse, whoListens } from './port-check.js';
import { renderLaunchdPlist, renderSystemdUnit } from './render.js';

export interface InstallRequest extends ServiceTarget {
  flags: ServerFlags;
  generateSecret: boolean;
  datadogApiKey?: string | undefined;
  dryRun: boolean;
  yes: boolean;
  /** Asks the user (a TTY); absent → changing an existing install needs --yes. */
  confirm?: (question: string) => Promise<boolean>;
  /** How long to wait for the started service to answer a TLS health check. */
  healthTimeoutMs?: number;
}

export interface InstallResult {
  name: string;
  manager: ManagerKind;
  scope: 'user' | 'system';
  dryRun: boolean;
  changed: boolean;
  configDir: string;
  serviceFile?: string;
  /** Only with --dry-run: what would be written. */
  serviceText?: string;
  config: ConfigFile;
  address: string;
  tls: boolean;
  caPath?: string;
  caFingerprint?: string;
  secretRequired: boolean;
  /** With --generate-secret: printed once, so the user can hand it to clients. */
  generatedSecret?: string;
  /** With --generate-secret on an install that has one: it is kept, so clients keep working. */
  secretKept?: boolean;
  /** Something the user should know about the result (a dry run for a manager not running here). */
  note?: string;
  /** For --service-manager none: the command that runs the server. */
  serveCommand: string;
}

/** The steps of an install, for a task list; each returns a one-line outcome. */
export interface InstallStep {
  title: string;
  run: () => Promise<string | void>;
}

export interface PlannedInstall {
  steps: InstallStep[];
  result: InstallResult;
  /**
   * After a step failed: stops and removes what the steps wrote, or puts back the install that
   * was there (its files, its unit, running again if it ran). Says what it did, one line each.
   */
  rollback: () => Promise<string[]>;
}

/**
 * Plans an install. Nothing is written until the returned steps run, so --dry-run and the task
 * list share one code path.
 */
export async function planInstall(request: InstallRequest): Promise<PlannedInstall> {
  const runner = request.runner ?? execaRunner;
  const { located, note } = await locateManager(request, runner);
  const { kind, manager, paths, env, serviceFile } = located;

  // Secrets travel as a generated value or the usual sources, never in config.json. Running the
  // same install again keeps the secret it made: a new one would lock out every client.
  const stored = readSecretsFile(paths.configDir);
  const keptSecret = request.generateSecret ? stored[SECRET_ENV] : undefined;
  const generated = request.generateSecret && !keptSecret ? generateSecret() : undefined;
  const chosenSecret = generated ?? keptSecret;
  const settings = resolveServerSettings({ ...request.flags, ...(chosenSecret ? { sharedSecret: chosenSecret } : {}) }, env);
  checkExposure(settings);
  checkWritable(settings.modelsDir, !request.dryRun);
  // A certificate the service could not load would only show as a unit that keeps failing.
  if (settings.tls && settings.tlsCert && settings.tlsKey) loadSuppliedCertificate(settings.tlsCert, settings.tlsKey);
  const config = configFor(settings);
  const plan: ServicePlan = { ...located.plan, modelsDir: settings.modelsDir, ...(config.tlsCert && config.tlsKey ? { readFiles: [config.tlsCert, config.tlsKey] } : {}) };
  const { environment } = plan;
  const serviceText = kind === 'systemd' ? renderSystemdUnit(plan) : kind === 'launchd' ? renderLaunchdPlist(plan) : undefined;
  const previousText = serviceFile && fs.existsSync(serviceFile) ? fs.readFileSync(serviceFile, 'utf8') : undefined;
  const installedBefore = fs.existsSync(path.join(paths.configDir, CONFIG_FILE_NAME));
  const secretsChanged = (settings.sharedSecret ?? undefined) !== stored[SECRET_ENV] || (request.datadogApiKey !== undefined && request.datadogApiKey !== stored[DATADOG_KEY_ENV]);
  const changed = !installedBefore || configChanged(paths.configDir, config) || previousText !== serviceText || secretsChanged;

  const address = `${settings.host ?? '127.0.0.1'}:${settings.port}`;
  const serveCommand = [...Object.entries(environment).map(([k, v]) => `${k}=${shellQuote(v)}`), shellQuote(plan.nodePath), shellQuote(plan.entryPoint), 'serve'].join(' ');
  const result: InstallResult = {
    name: plan.name,
    manager: kind,
    scope: plan.scope,
    dryRun: request.dryRun,
    changed,
    configDir: paths.configDir,
    ...(serviceFile ? { serviceFile } : {}),
    ...(request.dryRun && serviceText ? { serviceText } : {}),
    config,
    address,
    tls: settings.tls,
    secretRequired: Boolean(settings.sharedSecret),
    ...(generated ? { generatedSecret: generated } : {}),
    ...(keptSecret ? { secretKept: true } : {}),
    ...(note ? { note } : {}),
    serveCommand,
  };
  const nothingToDo = { steps: [], result, rollback: async () => [] };
  if (request.dryRun || !changed) {
    const caPath = path.join(paths.tlsDir, CA_CERT_FILE);
    if (settings.tls && fs.existsSync(caPath)) Object.assign(result, { caPath, caFingerprint: fingerprint(fs.readFileSync(caPath, 'utf8')) });
    return nothingToDo;
  }

  if (installedBefore && !request.yes) {
    const ok = await request.confirm?.(`dts-util is already installed in ${paths.configDir} with other settings; update it and restart the service?`);
    if (!ok) throw new UsageError('dts-util is already installed with other settings', 'run again with -y/--yes to update it');
  }

  // Taken before any step writes, for rollback().
  const snapshot = new FileSnapshot({
    files: [path.join(paths.configDir, CONFIG_FILE_NAME), path.join(paths.configDir, SECRETS_FILE_NAME), ...(serviceFile ? [serviceFile] : [])],
    folders: [paths.tlsDir],
    madeFolders: [settings.modelsDir, paths.configDir, ...(serviceFile ? [path.dirname(serviceFile)] : [])],
  });
  let wasRunning = false;
  let serviceTouched = false;

  const steps: InstallStep[] = [
    {
      title: 'Check the port',
      run: async () => {
        const running = manager ? await manager.isActive(plan) : false;
        wasRunning = running;
        if (!running && (await portInUse(settings.host && !['0.0.0.0', '::'].includes(settings.host) ? settings.host : '127.0.0.1', settings.port))) {
          const who = await whoListens(settings.port, runner);
          throw new UsageError(`port ${settings.port} is in use${who ? ` by ${who}` : ' by another program'}`, 'pick another with --port');
        }
        return `port ${settings.port} is free`;
      },
    },
    {
      title: 'Write the configuration and secrets',
      run: async () => {
        makeDirectorySync(settings.modelsDir);
        writeConfig(paths.configDir, config);
        const secrets = writeSecrets(paths.configDir, { sharedSecret: settings.secretSource === 'secrets file' ? undefined : settings.sharedSecret, datadogApiKey: request.datadogApiKey });
        return `${path.join(paths.configDir, 'config.json')}; secrets in ${secrets.file} (0600)`;
      },
    },
  ];
  if (settings.tls) {
    steps.push({
      title: 'Make the TLS certificate authority and server certificate',
      run: async () => {
        const certs = ensureCertificates(paths.tlsDir, certificateNames(settings.host));
        result.caPath = certs.caPath;
        result.caFingerprint = certs.caFingerprint;
        return `${certs.created ? 'created' : 'kept'} ${certs.caPath} (SHA-256 ${certs.caFingerprint})`;
      },
    });
  }
  if (manager && serviceText) {
    steps.push(
      {
        title: `Install the ${kind} service`,
        run: async () => {
          serviceTouched = true;
          await manager.install(plan, serviceText);
          return serviceFile;
        },
      },
      {
        title: 'Enable and start it',
        run: async () => {
          await manager.enable(plan);
          if (previousText !== undefined) await manager.restart(plan);
          else await manager.start(plan);
        },
      },
      { title: 'Wait for a healthy server', run: () => waitHealthy(settings, request.healthTimeoutMs ?? 30_000) },
    );
  }
  const rollback = async (): Promise<string[]> => {
    const done: string[] = [];
    const attempt = async (what: string, action: () => Promise<void>) => {
      try {
        await action();
        done.push(what);
      } catch (error) {
        done.push(`could not ${what}: ${(error as Error).message}`);
      }
    };
    const fresh = previousText === undefined;
    if (manager && serviceTouched && fresh) {
      await attempt(`stop ${plan.name}`, () => manager.stop(plan));
      await attempt(`disable ${plan.name}`, () => manager.disable(plan));
    }
    done.push(...snapshot.restore());
    if (manager && serviceTouched) {
      if (fresh) await attempt(`unload ${plan.name}`, () => manager.remove(plan));
      else {
        await attempt(`reload the ${kind} service as it was`, () => manager.install(plan, previousText));
        if (wasRunning) await attempt(`restart ${plan.name} with its earlier settings`, () => manager.restart(plan));
      }
    }
    return done;
  };
  return { steps, result, rollback };
}

/**
 * The service manager an install uses. Where none runs, only a dry run goes on: it shows the
 * unit (Linux) or job (macOS) that an install would write where one does.
 */
async function locateManager(request: InstallRequest, runner: CommandRunner): Promise<{ located: LocatedService; note?: string }> {
  const located = await locateService({ ...request, runner });
  if (request.manager !== 'auto' || located.kind !== 'none') return { located };
  if (!request.dryRun) {
    throw new UsageError(
      'no service manager is running here (systemd is not PID 1, and this is not macOS)',
      'use --service-manager none: it writes the configuration and certificates and prints the `dts-util serve` command to run (containers, supervisors)',
    );
  }
  const kind: ManagerKind = process.platform === 'darwin' ? 'launchd' : 'systemd';
  return {
    located: await locateService({ ...request, manager: kind, runner }),
    note: `no service manager is running here, so this is the ${kind} ${kind === 'systemd' ? 'unit' : 'job'} an install would write where ${kind} runs; here, install with --service-manager none`,
  };
}

/** Binding beyond loopback with neither TLS nor a secret would open the server to the network. */
function checkExposure(settings: ServerSettings): void {
  if (!isLoopbackHost(settings.host) && !settings.tls && !settings.sharedSecret) {
    throw new UsageError(`refusing to install a server on ${settings.host} without TLS and without a shared secret`, 'drop --no-tls, or add --generate-secret');
  }
}

/**
 * The models folder must be creatable and writable, checked before any step runs. Permissions
 * alone do not tell (procfs says root may write, then refuses every mkdir), so outside --dry-run
 * a folder is made and removed again in the nearest one that exists.
 */
function checkWritable(dir: string, tryCreating: boolean): void {
  let probe = path.resolve(dir);
  while (!fs.existsSync(probe)) probe = path.dirname(probe);
  try {
    if (!fs.statSync(probe).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
    fs.accessSync(probe, fs.constants.W_OK);
    if (tryCreating) fs.rmdirSync(fs.mkdtempSync(path.join(probe, '.dts-util-probe-')));
  } catch (error) {
    throw new UsageError(`the models directory ${dir} cannot be created or written (${(error as NodeJS.ErrnoException).code ?? 'EACCES'} at ${probe})`, 'choose another with --model-path');
  }
}

/** The settings the service will run with, as config.json keeps them (no secrets). */
function configFor(settings: ServerSettings): ConfigFile {
  return {
    port: settings.port,
    ...(settings.host ? { host: settings.host } : {}),
    tls: settings.tls,
    ...(settings.tlsCert && settings.tlsKey ? { tlsCert: settings.tlsCert, tlsKey: settings.tlsKey } : {}),
    modelPath: settings.modelsDir,
    maxUploadBytes: settings.maxUploadBytes,
    ...(settings.defaultModel ? { defaultModel: settings.defaultModel } : {}),
    maxQueue: settings.maxQueue,
    device: settings.device,
    gpu: settings.gpu,
    ...workerChoices(settings.workerGpus, settings.gpu),
    deviceFallback: settings.deviceFallback,
    // Written only when turned off, so an install from before the setting existed is unchanged.
    ...(settings.directIo ? {} : { directIo: false }),
    ...(settings.graphOptimize ? {} : { graphOptimize: false }),
    ...(settings.bonjour ? {} : { bonjour: false }),
    ...(settings.agentPort ? { agentPort: settings.agentPort } : {}),
    metrics: settings.metrics,
    memoryBudget: settings.memoryBudget,
    // Written only when changed, as directIo: an install keeps following the defaults.
    ...(settings.uploadIdleTimeout === DEFAULT_UPLOAD_IDLE_TIMEOUT_SECONDS ? {} : { uploadIdleTimeout: settings.uploadIdleTimeout }),
    ...(settings.maxConcurrentUploads === DEFAULT_MAX_CONCURRENT_UPLOADS ? {} : { maxConcurrentUploads: settings.maxConcurrentUploads }),
    // Not a serve setting but the user's own map (`models alias`): a re-install keeps it.
    ...keptAliases(settings.paths.configDir),
  };
}

/** --gpus and --workers as config.json keeps them: only when they differ from one worker on --gpu. */
function workerChoices(workerGpus: number[], gpu: number): Pick<ConfigFile, 'gpus' | 'workers'> {
  const gpus = [...new Set(workerGpus)];
  const workers = workerGpus.length / gpus.length;
  return { ...(gpus.length === 1 && gpus[0] === gpu ? {} : { gpus: gpus.join(',') }), ...(workers === 1 ? {} : { workers }) };
}

function keptAliases(configDir: string): Pick<ConfigFile, 'modelAliases'> {
  const modelAliases = readModelAliases(configDir);
  return Object.keys(modelAliases).length > 0 ? { modelAliases } : {};
}

async function waitHealthy(settings: ServerSettings, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const report = await runSmokeTest({ settings, timeoutMs: 2000 });
    if (report.healthy) return `healthy at ${report.address}`;
    last = report.checks.find((c) => !c.ok)?.detail ?? '';
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the service did not become healthy within ${timeoutMs / 1000} s: ${last}; see \`dts-util logs\``);
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export type { ServiceManager };
