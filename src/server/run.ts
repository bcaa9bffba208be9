import fs from 'node:fs';

import { secretFileExposure } from '../config/secret-file.js';
import { settingsFile } from '../config/settings-source.js';
import type { ServerSettings } from '../config/settings.js';
import type { DeviceSelection } from '../diffusion/device-probe.js';
import { formatBytes } from '../util/format-bytes.js';
import type { IntakeStats } from '../log/datadog-intake.js';
import type { Logger } from '../log/logger.js';
import { modelSettingWarnings } from './model-setting-warnings.js';
import { startedByNpm, whenParentGone } from './parent-watch.js';
import { startServer } from './server.js';

export interface ServeResult {
  stoppedBy: string;
  addresses: string[];
}

/**
 * One line per device found (usable, or why not), then the one chosen and why: a warning when a
 * configured device is not usable or auto found no GPU, since generation is then much slower.
 */
export function logDevices(logger: Logger, selection: DeviceSelection): void {
  for (const device of selection.devices) logger.info('device found', { device: device.name, usable: device.usable, detail: device.detail });
  const degraded = selection.chosen !== selection.requested && (selection.requested !== 'auto' || selection.chosen === 'cpu');
  logger[degraded ? 'warn' : 'info']('device chosen', { device: selection.chosen, requested: selection.requested, reason: selection.reason, fallbackOrder: selection.order });
}

/**
 * `dts-util serve`: start, log what is in force, wait for SIGTERM/SIGINT (or, under npm, for the npm
 * process to go), shut down gracefully.
 */
export async function runServerUntilSignal(
  settings: ServerSettings,
  logger: Logger,
  graceMs: number,
  logging: { destinations: string[]; stats?: () => IntakeStats | undefined } = { destinations: ['stdout'] },
): Promise<ServeResult> {
  if (settings.secretSource === 'argv' || process.argv.some((arg) => arg.startsWith('--datadog-api-key'))) {
    // Overwrites /proc/<pid>/cmdline, so `ps` stops showing the secret from here on.
    process.title = 'dts-util serve';
    logger.warn('a secret was given on the command line, where other users can read it with ps; prefer DTS_UTIL_SHARED_SECRET / --shared-secret-file and DD_API_KEY');
  }
  // Asked before the server creates the folder: a mistyped --model-path shows as one that was not there.
  const modelsDirExisted = fs.existsSync(settings.modelsDir);
  const server = await startServer(settings, logger, logging.stats ? { logStats: logging.stats } : {});
  // Listening before the start-up line: whoever reads that line (a test, a supervisor) may stop the server at once.
  const stopRequest = stopRequested();
  logger.info('dts-util server listening', {
    addresses: server.addresses,
    tls: settings.tls,
    caPath: server.certificates?.caPath,
    caFingerprint: server.certificates?.caFingerprint,
    certificatesCreated: server.certificates?.created,
    ...(server.supplied ? { tlsCert: server.supplied.certPath, tlsCertNames: server.supplied.dnsNames, tlsCertFingerprint: server.supplied.fingerprint, tlsCertExpires: server.supplied.validTo } : {}),
    bonjour: server.bonjourName ? `${server.bonjourName}._dt-grpc._tcp.local` : settings.bonjour ? 'off (loopback only)' : 'off',
    authentication: settings.sharedSecret ? `shared secret (from ${settings.secretSource})` : 'none',
    settingsFile: settingsFile(settings.paths) ?? '(none: flags, environment and defaults)',
    modelsDir: settings.modelsDir,
    maxUploadBytes: settings.maxUploadBytes,
    uploadIdleTimeout: settings.uploadIdleTimeout,
    maxConcurrentUploads: settings.maxConcurrentUploads,
    defaultModel: settings.defaultModel ?? '(the only installed model)',
    logs: logging.destinations,
    metrics: settings.metrics ? 'DogStatsD (see the metrics line)' : 'off',
    device: server.devices.chosen,
    maxQueue: settings.maxQueue,
    memoryBudget: `${server.engine.memoryBudget.basis} = ${formatBytes(server.engine.memoryBudget.bytes)}`,
    pid: process.pid,
    node: process.version,
  });
  for (const warning of modelSettingWarnings(settings.modelsDir, settings.defaultModel, modelsDirExisted)) logger.warn(warning.message, warning.fields);
  logDevices(logger, server.devices);
  const exposure = settings.secretFile ? secretFileExposure(settings.secretFile) : undefined;
  if (exposure) logger.warn(exposure);
  if (server.supplied?.keyReadableByOthers) logger.warn('the TLS private key file can be read by other users of this machine: chmod o-r it', { tlsKey: server.supplied.keyPath });

  const signal = await stopRequest;
  logger.info('shutting down: health NOT_SERVING, draining running calls', { signal, graceMs });
  // A second signal means "now".
  const force = () => process.exit(130);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await server.shutdown(graceMs);
  logger.info('stopped', { signal });
  return { stoppedBy: signal, addresses: server.addresses };
}

/** The first SIGTERM or SIGINT, or, under npm, the npm process going away: what it was. */
function stopRequested(): Promise<string> {
  const parent = startedByNpm(process.env) ? whenParentGone() : undefined;
  return new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    void parent?.gone.then(() => resolve('the npm parent process exited'));
  }).finally(() => parent?.stop());
}
