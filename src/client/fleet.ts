import { UsageError } from '../config/errors.js';
import { resolveConnectionSettings, type ConnectionFlags, type ConnectionSettings } from '../config/settings.js';
import type { Connection } from './client.js';
import { explainConnectionFailure } from './explain-connection.js';
import { caPathFor, connectToServer } from './server-connection.js';
import { dialAddress } from './server-address.js';

/** One `--host` entry: a name or address, and its own port when it gave one (`host:port`, `[v6]:port`). */
export interface HostEntry {
  host: string;
  port?: number;
}

/**
 * The `--host` values of a fleet command: repeated flags and comma lists alike, trimmed, empty
 * entries and repeats dropped. `[::1]:7859` and `gpu-a:7860` carry their own port; a bare IPv6
 * address (more than one colon, no brackets) has none.
 */
export function parseHostList(values: readonly string[]): HostEntry[] {
  const entries: HostEntry[] = [];
  const seen = new Set<string>();
  for (const text of values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')) {
    const entry = parseHostEntry(text);
    const key = `${entry.host}|${entry.port ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push(entry);
  }
  return entries;
}

function parseHostEntry(text: string): HostEntry {
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) return withPort(text, bracketed[1]!, bracketed[2]);
  const colons = text.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = text.split(':') as [string, string];
    return withPort(text, host, port);
  }
  return { host: text };
}

function withPort(text: string, host: string, port: string | undefined): HostEntry {
  if (host === '') throw new UsageError(`--host ${text} names no host`, 'give HOST or HOST:PORT, e.g. --host gpu-a:7859');
  if (port === undefined) return { host };
  const value = Number(port);
  if (!/^\d+$/.test(port) || value < 1 || value > 65535) throw new UsageError(`--host ${text}: ${JSON.stringify(port)} is not a port`, 'give HOST or HOST:PORT with a port from 1 to 65535, e.g. --host gpu-a:7859');
  return { host, port: value };
}

/** One server of the fleet, as it is reported: the host as given and the address dialled. */
export interface FleetTarget {
  host: string;
  address: string;
  settings: ConnectionSettings;
}

/**
 * The servers a fleet command talks to: one per `--host` entry, each with the shared port, TLS and
 * secret settings unless it gave its own port; with no `--host`, the configured server alone.
 */
export function fleetTargets(flags: ConnectionFlags, hosts: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): FleetTarget[] {
  const entries = parseHostList(hosts ?? []);
  if (entries.length === 0) {
    const settings = resolveConnectionSettings(flags, env);
    return [{ host: settings.host ?? 'localhost', address: dialAddress(settings.host, settings.port), settings }];
  }
  return entries.map((entry) => {
    const settings = resolveConnectionSettings({ ...flags, host: entry.host, port: entry.port ?? flags.port }, env);
    const host = entry.port === undefined ? entry.host : `${entry.host.includes(':') ? `[${entry.host}]` : entry.host}:${entry.port}`;
    return { host, address: dialAddress(settings.host, settings.port), settings };
  });
}

/** What happened on one host: its result, or why it failed (as the single-host command would say it). */
export type HostOutcome<T> = { host: string; address: string; ok: true; result: T } | { host: string; address: string; ok: false; error: string };

export interface ForEachHostOptions {
  /** --ca: trusted for every host. */
  ca: string | undefined;
  /** Ctrl-C: the host under way fails as interrupted and no further host is started. */
  signal?: AbortSignal;
  /** Before each host starts (a progress header, say). */
  onHost?: (target: FleetTarget) => void;
}

/**
 * Runs `work` on each host in turn (one at a time: one upload already fills a link, and the
 * progress line stays readable), each over its own connection. One host failing does not stop
 * the others; a usage error (no CA to trust, the same for every host) stops them all, as does
 * an interruption.
 */
export async function forEachHost<T>(targets: readonly FleetTarget[], options: ForEachHostOptions, work: (connection: Connection, target: FleetTarget) => Promise<T>): Promise<HostOutcome<T>[]> {
  const outcomes: HostOutcome<T>[] = [];
  for (const target of targets) {
    if (options.signal?.aborted) break;
    options.onHost?.(target);
    const connection = connectToServer(target.settings, options.ca);
    try {
      outcomes.push({ host: target.host, address: target.address, ok: true, result: await work(connection, target) });
    } catch (error) {
      if (error instanceof UsageError) throw error;
      outcomes.push({ host: target.host, address: target.address, ok: false, error: explainConnectionFailure(error, caPathFor(target.settings, options.ca)) });
    } finally {
      connection.close();
    }
  }
  return outcomes;
}

/** "gpu-b (…why…); gpu-c (…why…)": the failed hosts, for the exit message. */
export function describeFailures(outcomes: readonly HostOutcome<unknown>[]): string {
  return outcomes
    .filter((o): o is Extract<HostOutcome<unknown>, { ok: false }> => !o.ok)
    .map((o) => `${o.host} (${o.error})`)
    .join('; ');
}
