import net from 'node:net';
import path from 'node:path';

import { UsageError } from '../config/errors.js';

/*
 * An HAProxy configuration for a fleet of dts-util servers: gRPC is HTTP/2, so HAProxy runs in
 * `mode http` with HTTP/2 on both sides (`proto h2`; with TLS, ALPN h2), and routes by path:
 *
 * - generations go to a backend with `balance leastconn` and `maxconn` = each server's worker
 *   count, so a server gets only what it can run at once and the rest waits in HAProxy's one
 *   queue (`timeout queue`), to be handed to whichever server frees up first, instead of piling
 *   up in one server's own engine queue while another server idles;
 * - every other call (Echo, health, FilesExist, ListModels, ServerStatus, uploads) goes to a
 *   backend without that limit, so it never waits behind a generation.
 *
 * Health: HAProxy 2.6 has no gRPC health check (its `option httpchk` sends HTTP/1, and a gRPC
 * status is in HTTP/2 trailers, which no check reads). So each server gets a plain TCP (with TLS,
 * TLS handshake) `check` on its gRPC port for liveness, and, when the server runs with
 * `serve --agent-port N`, an HAProxy agent check: the server answers "up ready" while it serves
 * and "drain" once SIGTERM turned its gRPC health NOT_SERVING, so HAProxy gives it no new work
 * while its running generations finish (src/server/agent-check.ts).
 */

export interface BalancerBackend {
  /** The `server` name in the configuration: s1, s2, … in the order given. */
  name: string;
  host: string;
  port: number;
  /** Generations it runs at once (its engine's workers): HAProxy's per-server maxconn. */
  workers: number;
  /** The port its `serve --agent-port` answers on; no agent check when undefined. */
  agentPort: number | undefined;
  /** TLS only: the CA file that signed its certificate. */
  ca: string | undefined;
  /** TLS only: the name its certificate must carry (SNI and verifyhost). */
  tlsName: string | undefined;
}

export interface HaproxyOptions {
  listen: { host: string; port: number };
  backends: BalancerBackend[];
  /** undefined: plaintext on both sides. crt: one PEM with HAProxy's certificate chain and key. */
  tls: { crt: string } | undefined;
}

/** The generation calls of both contracts: the seed's unary and streaming ones, and the app's. */
export const GENERATION_PATHS = [
  '/drawthings.ImageGenerationService/GenerateImage',
  '/drawthings.ImageGenerationService/GenerateImageStream',
  '/ImageGenerationService/GenerateImage',
];

/** How long a generation may wait in HAProxy's queue for a free server. */
export const QUEUE_TIMEOUT = '10m';
/** Longest silence on a call: a unary GenerateImage says nothing until its image is done. */
export const CALL_TIMEOUT = '30m';

/** `host:port`, `[v6]:port`; a bare port means every address. */
export function parseHostPort(text: string, label: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || !(port >= 1 && port <= 65535)) throw new UsageError(`${label} ${JSON.stringify(text)} is not HOST:PORT`, `write it like 127.0.0.1:7859, gpu1.lan:7859 or [::1]:7859`);
  const host = match[1] ?? match[2] ?? '';
  checkWord(host, label);
  return { host, port };
}

/**
 * One `--backend`: `HOST:PORT[,workers=N][,agent=PORT][,ca=FILE][,tls-name=NAME]`; what it leaves
 * out comes from `defaults` (the --workers, --agent-port and --backend-ca flags).
 */
export function parseBackend(spec: string, index: number, defaults: { workers: number; agentPort: number | undefined; ca: string | undefined }): BalancerBackend {
  const [address = '', ...options] = spec.split(',');
  const { host, port } = parseHostPort(address, '--backend');
  const backend: BalancerBackend = { name: `s${index + 1}`, host, port, workers: defaults.workers, agentPort: defaults.agentPort, ca: defaults.ca, tlsName: undefined };
  for (const option of options) {
    const [key, value = ''] = option.split('=', 2) as [string, string?];
    const number = Number(value);
    if (key === 'workers' && Number.isInteger(number) && number >= 1) backend.workers = number;
    else if (key === 'agent' && Number.isInteger(number) && number >= 1 && number <= 65535) backend.agentPort = number;
    else if (key === 'ca' && value) backend.ca = path.resolve(value);
    else if (key === 'tls-name' && value) backend.tlsName = value;
    else throw new UsageError(`--backend ${JSON.stringify(spec)}: ${JSON.stringify(option)} is not an option`, 'options are workers=N, agent=PORT, ca=FILE and tls-name=NAME, e.g. --backend gpu1:7859,workers=2,agent=7869');
  }
  return backend;
}

/** The configuration text. Throws a UsageError for what HAProxy would refuse or could not verify. */
export function renderHaproxyConfig(options: HaproxyOptions): string {
  if (options.backends.length === 0) throw new UsageError('no --backend given', 'name each dts-util server: --backend HOST:PORT (once per server)');
  const tls = options.tls;
  if (tls) checkWord(tls.crt, '--tls-crt');
  const bind = `${address(options.listen.host, options.listen.port)}${tls ? ` ssl crt ${tls.crt} alpn h2` : ' proto h2'}`;
  const server = (b: BalancerBackend, extra: string) => `    server ${b.name} ${address(b.host, b.port)}${extra}${tls ? ` ${backendTls(b)}` : ' proto h2'}`;
  const checks = (b: BalancerBackend) => ` check inter 1s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down${tls ? ' check-alpn h2' : ''}${b.agentPort ? ` agent-check agent-port ${b.agentPort} agent-inter 1s` : ''}`;
  return [
    '# HAProxy configuration for dts-util servers, written by `dts-util balancer haproxy`.',
    '# Check it with `haproxy -c -f FILE`; see "Fleet behind HAProxy" in the dts-util README.',
    'global',
    '    maxconn 4096',
    '',
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    `    timeout client ${CALL_TIMEOUT}`,
    `    timeout server ${CALL_TIMEOUT}`,
    `    timeout queue ${QUEUE_TIMEOUT}`,
    '    timeout check 5s',
    '    # A server that refuses the connection or closes it before answering: try another.',
    '    # A refused connection also marks the server down at once (observe layer4), so the retry goes elsewhere.',
    '    retries 5',
    '    option redispatch 1',
    '    retry-on conn-failure empty-response',
    '',
    'frontend dts_util',
    `    bind ${bind}`,
    `    acl generation path ${GENERATION_PATHS.join(' ')}`,
    '    use_backend generations if generation',
    '    default_backend calls',
    '',
    '# One generation per worker on each server; the rest wait here for the first free one.',
    'backend generations',
    '    balance leastconn',
    '    # The whole (small) request is kept, so it can be sent again to another server.',
    '    option http-buffer-request',
    ...options.backends.map((b) => server(b, ` maxconn ${b.workers}${checks(b)}`)),
    '',
    '# Short calls: no limit, never behind a generation; a server is up or draining as above.',
    'backend calls',
    '    balance leastconn',
    ...options.backends.map((b) => server(b, ` track generations/${b.name}`)),
    '',
  ].join('\n');
}

/** HAProxy → server over TLS, verifying the server's own CA and the name its certificate carries. */
function backendTls(b: BalancerBackend): string {
  if (!b.ca) throw new UsageError(`--backend ${b.host}:${b.port} has no CA to verify it with`, "give --backend-ca FILE (the server's tls/ca.pem), add ca=FILE to the --backend, or use --no-tls");
  checkWord(b.ca, 'ca');
  // dts-util's certificates name localhost and the host name, and the address it listens on.
  const name = b.tlsName ?? (net.isIP(b.host) ? 'localhost' : b.host);
  checkWord(name, 'tls-name');
  return `ssl verify required ca-file ${b.ca} sni str(${name}) verifyhost ${name} alpn h2 proto h2`;
}

function address(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** HAProxy splits on white space and reads quotes and `#`: values here must need no quoting. */
function checkWord(value: string, label: string): void {
  if (/[\s"'#\\\x00-\x1f]/.test(value)) throw new UsageError(`${label} ${JSON.stringify(value)} contains a space, quote, # or backslash, which this configuration does not quote`, 'use a path or name without them');
}
