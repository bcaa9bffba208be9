import type { ConnectionSettings } from '../config/settings.js';
import type { TrustedCa } from './check-ca.js';
import { checkEcho } from './check-echo.js';
import { checkGenerate } from './check-generate.js';
import { checkHealthStatus } from './check-health.js';
import { checkModels } from './check-models.js';
import { checkMonitoring } from './check-monitoring.js';
import type { Check } from './check-result.js';
import { checkTls } from './check-tls.js';
import { connect } from './client.js';
import { dialAddress } from './server-address.js';
import { trustFor } from './server-connection.js';

export type { Check } from './check-result.js';
export { SMOKE_MODEL } from './check-generate.js';

export interface SmokeReport {
  healthy: boolean;
  address: string;
  tls: boolean;
  checks: Check[];
}

/** Deadline of each quick call (handshake, Echo, health) unless the caller sets one. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** Deadline of the generation unless the caller sets one: a cold server loads the model first. */
export const DEFAULT_GENERATE_TIMEOUT_MS = 120_000;

export interface SmokeOptions {
  settings: ConnectionSettings;
  /** CA file the user named (--ca); default: the install's own. A named file that cannot be read is a UsageError. */
  caPath?: string | undefined;
  /** Deadline of every call, the generation included; default DEFAULT_CALL_TIMEOUT_MS / DEFAULT_GENERATE_TIMEOUT_MS. */
  timeoutMs?: number | undefined;
  /** Also generate one small image end to end with this model. */
  generate?: { model: string } | undefined;
  /** The installed service's state, checked first where there is one (see checkInstalledService). */
  service?: (() => Promise<Check | undefined>) | undefined;
}

/**
 * Proves a server works, in order: TLS handshake against the CA (when TLS is on), Echo, gRPC
 * health, and with `generate` one small generation. A check runs only when the ones before it
 * leave the server reachable, so the first failure is the one to fix.
 */
export async function runSmokeTest({ settings, caPath, timeoutMs, generate, service }: SmokeOptions): Promise<SmokeReport> {
  const address = dialAddress(settings.host, settings.port);
  const callTimeoutMs = timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const checks: Check[] = [];
  const report = (): SmokeReport => ({ healthy: checks.every((c) => c.ok), address, tls: settings.tls, checks });

  const serviceCheck = await service?.();
  if (serviceCheck) {
    checks.push(serviceCheck);
    if (!serviceCheck.ok) return report();
  }

  let trusted: TrustedCa | undefined;
  if (settings.tls) {
    const ca = trustFor(settings, caPath);
    if ('problem' in ca) {
      checks.push({ name: 'tls', ok: false, detail: ca.problem });
      return report();
    }
    trusted = ca;
    const tls = await checkTls(address, ca, callTimeoutMs);
    checks.push(tls);
    // A certificate near expiry fails the check but still connects: the other checks say more.
    if (!tls.ok && !tls.certificate?.verified) return report();
  }

  const connection = connect({ address, tls: settings.tls, caPem: trusted?.pem, serverName: trusted?.serverName, sharedSecret: settings.sharedSecret });
  try {
    for (const next of [
      () => checkEcho(connection, callTimeoutMs),
      () => checkHealthStatus(connection, callTimeoutMs),
      () => checkModels(connection, callTimeoutMs),
      () => checkMonitoring(connection, callTimeoutMs),
      ...(generate ? [() => checkGenerate(connection, generate.model, timeoutMs ?? DEFAULT_GENERATE_TIMEOUT_MS)] : []),
    ]) {
      const check = await next();
      checks.push(check);
      if (!check.ok) break;
    }
    return report();
  } finally {
    connection.close();
  }
}
