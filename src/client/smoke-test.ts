import fs from 'node:fs';
import path from 'node:path';

import { status, type ServiceError } from '@grpc/grpc-js';

import type { ConnectionSettings } from '../config/settings.js';
import { SERVICE_NAME } from '../package-root.js';
import { CA_CERT_FILE } from '../tls/certificates.js';
import { checkHealth, connect, unaryCall, type Connection } from './client.js';
import { dialAddress } from './server-address.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  durationMs?: number;
}

export interface SmokeReport {
  healthy: boolean;
  address: string;
  tls: boolean;
  checks: Check[];
}

export interface SmokeOptions {
  settings: ConnectionSettings;
  /** CA file; default: the install's own. */
  caPath?: string | undefined;
  timeoutMs: number;
}

/** Proves a server answers: TLS handshake against the CA, Echo, and grpc.health.v1. */
export async function runSmokeTest({ settings, caPath, timeoutMs }: SmokeOptions): Promise<SmokeReport> {
  const address = dialAddress(settings.host, settings.port);
  const report = (checks: Check[]): SmokeReport => ({ healthy: checks.every((c) => c.ok), address, tls: settings.tls, checks });

  let caPem: string | undefined;
  if (settings.tls) {
    const file = caPath ?? path.join(settings.paths.tlsDir, CA_CERT_FILE);
    try {
      caPem = fs.readFileSync(file, 'utf8');
    } catch {
      return report([{ name: 'ca', ok: false, detail: `no CA certificate at ${file}: start the server once (dts-util serve) to create it, or pass --ca` }]);
    }
  }

  const connection = connect({ address, tls: settings.tls, caPem, sharedSecret: settings.sharedSecret });
  try {
    const checks = [await timed('echo', () => echoCheck(connection, timeoutMs))];
    if (checks[0]!.ok) checks.push(await timed('health', () => healthCheck(connection, timeoutMs)));
    return report(checks);
  } finally {
    connection.close();
  }
}

async function echoCheck(connection: Connection, timeoutMs: number): Promise<string> {
  const { message } = await unaryCall(connection.service, connection.service.echo, {}, timeoutMs);
  if (message !== 'HELLO') throw new Error(`Echo answered ${JSON.stringify(message)} instead of "HELLO"`);
  return 'Echo answered HELLO';
}

async function healthCheck(connection: Connection, timeoutMs: number): Promise<string> {
  const overall = await checkHealth(connection, '', timeoutMs);
  const service = await checkHealth(connection, SERVICE_NAME, timeoutMs);
  if (overall !== 'SERVING' || service !== 'SERVING') throw new Error(`health is ${overall} (server) / ${service} (${SERVICE_NAME})`);
  return 'SERVING';
}

async function timed(name: string, run: () => Promise<string>): Promise<Check> {
  const started = performance.now();
  try {
    const detail = await run();
    return { name, ok: true, detail, durationMs: round(performance.now() - started) };
  } catch (error) {
    return { name, ok: false, detail: explain(error), durationMs: round(performance.now() - started) };
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Turns a gRPC failure into what to do about it. */
export function explain(error: unknown): string {
  const e = error as Partial<ServiceError>;
  if (e.code === undefined) return (error as Error).message;
  const name = status[e.code];
  switch (e.code) {
    case status.UNAVAILABLE:
      return `UNAVAILABLE: ${e.details}. Is the server running? Start it with \`dts-util serve\` (or check --host/--port, and --tls/--no-tls matches the server)`;
    case status.UNAUTHENTICATED:
      return `UNAUTHENTICATED: ${e.details}`;
    case status.DEADLINE_EXCEEDED:
      return `DEADLINE_EXCEEDED: no answer in time; the server may be overloaded or the address wrong`;
    default:
      return `${name}: ${e.details}`;
  }
}
