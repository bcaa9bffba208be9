import fs from 'node:fs';
import path from 'node:path';

import { runSmokeTest } from '../client/smoke-test.js';
import { readSecretsFile, type ConfigFile } from '../config/config-file.js';
import { UsageError } from '../config/errors.js';
import { DATADOG_KEY_ENV, DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_UPLOAD_IDLE_TIMEOUT_SECONDS, isLoopbackHost, resolveServerSettings, SECRET_ENV, type ServerFlags, type ServerSettings } from '../config/settings.js';
import { makeDirectorySync } from '../util/make-directory.js';
import { CA_CERT_FILE, certificateNames, ensureCertificates, fingerprint } from '../tls/certificates.js';
import { execaRunner } from './command-runner.js';
import { configChanged, generateSecret, writeConfig, writeSecrets } from './install-files.js';
import { locateService, type ServiceTarget } from './locate.js';
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
  /** For --service-manager none: the command that runs the server. */
  serveCommand: string;
}

/** The steps of an install, for a task list; each returns a one-line outcome. */
export interface InstallStep {
  title: string;
  run: () => Promise<string | void>;
}

/**
 * Plans an install. Nothing is written until the returned steps run, so --dry-run and the task
 * list share one code path.
 */
export async function planInstall(request: InstallRequest): Promise<{ steps: InstallStep[]; result: InstallResult }> {
  const runner = request.runner ?? execaRunner;
  const located = await locateService({ ...request, runner });
  const { kind, manager, paths, env, serviceFile } = located;
  if (request.manager === 'auto' && kind === 'none') {
    throw new UsageError(
      'no service manager is running here (systemd is not PID 1, and this is not macOS)',
      'use --service-manager none: it writes the configuration and certificates and prints the `dts-util serve` command to run (containers, supervisors)',
    );
  }

  // Secrets travel as a generated value or the usual sources, never in config.json.
  const generated = request.generateSecret ? generateSecret() : undefined;
  const settings = resolveServerSettings({ ...request.flags, ...(generated ? { sharedSecret: generated } : {}) }, env);
  checkExposure(settings);
  checkWritable(settings.modelsDir, !request.dryRun);
  const config = configFor(settings);
  const plan: ServicePlan = { ...located.plan, modelsDir: settings.modelsDir };
  const { environment } = plan;
  const serviceText = kind === 'systemd' ? renderSystemdUnit(plan) : kind === 'launchd' ? renderLaunchdPlist(plan) : undefined;
  const previousText = serviceFile && fs.existsSync(serviceFile) ? fs.readFileSync(serviceFile, 'utf8') : undefined;
  const installedBefore = fs.existsSync(path.join(paths.configDir, 'config.json'));
  const stored = readSecretsFile(paths.configDir);
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
    serveCommand,
  };
  if (request.dryRun || !changed) {
    const caPath = path.join(paths.tlsDir, CA_CERT_FILE);
    if (settings.tls && fs.existsSync(caPath)) Object.assign(result, { caPath, caFingerprint: fingerprint(fs.readFileSync(caPath, 'utf8')) });
    return { steps: [], result };
  }

  if (installedBefore && !request.yes) {
    const ok = await request.confirm?.(`dts-util is already installed in ${paths.configDir} with other settings; update it and restart the service?`);
    if (!ok) throw new UsageError('dts-util is already installed with other settings', 'run again with -y/--yes to update it');
  }

  const steps: InstallStep[] = [
    {
      title: 'Check the port',
      run: async () => {
        const running = manager ? await manager.isActive(plan) : false;
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
      { title: `Install the ${kind} service`, run: async () => (await manager.install(plan, serviceText), serviceFile) },
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
  return { steps, result };
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
    modelPath: settings.modelsDir,
    maxUploadBytes: settings.maxUploadBytes,
    ...(settings.defaultModel ? { defaultModel: settings.defaultModel } : {}),
    maxQueue: settings.maxQueue,
    device: settings.device,
    gpu: settings.gpu,
    deviceFallback: settings.deviceFallback,
    // Written only when turned off, so an install from before the setting existed is unchanged.
    ...(settings.directIo ? {} : { directIo: false }),
    metrics: settings.metrics,
    memoryBudget: settings.memoryBudget,
    // Written only when changed, as directIo: an install keeps following the defaults.
    ...(settings.uploadIdleTimeout === DEFAULT_UPLOAD_IDLE_TIMEOUT_SECONDS ? {} : { uploadIdleTimeout: settings.uploadIdleTimeout }),
    ...(settings.maxConcurrentUploads === DEFAULT_MAX_CONCURRENT_UPLOADS ? {} : { maxConcurrentUploads: settings.maxConcurrentUploads }),
  };
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
