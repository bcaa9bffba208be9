export type AgentAddress = { protocol: 'udp'; host: string; port: number } | { protocol: 'uds'; path: string };

export type AddressResult = { ok: true; address: AgentAddress } | { ok: false; problem: string };

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 8125;

/**
 * Where the DogStatsD agent listens: DD_DOGSTATSD_URL (udp://host:port or unix:///path) wins,
 * else DD_AGENT_HOST (127.0.0.1) and DD_DOGSTATSD_PORT (8125).
 */
export function agentAddress(env: NodeJS.ProcessEnv): AddressResult {
  const url = env.DD_DOGSTATSD_URL?.trim();
  if (url) return fromUrl(url);
  const host = env.DD_AGENT_HOST?.trim() || DEFAULT_HOST;
  const portText = env.DD_DOGSTATSD_PORT?.trim();
  const port = portText ? parsePort(portText) : DEFAULT_PORT;
  if (port === undefined) return { ok: false, problem: `DD_DOGSTATSD_PORT=${JSON.stringify(portText)} is not a port (1-65535)` };
  return { ok: true, address: { protocol: 'udp', host, port } };
}

function fromUrl(url: string): AddressResult {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, problem: `DD_DOGSTATSD_URL=${JSON.stringify(url)} is not a URL (expected udp://host:port or unix:///path)` };
  }
  if (parsed.protocol === 'unix:') {
    const path = decodeURIComponent(parsed.pathname);
    if (!path || path === '/') return { ok: false, problem: `DD_DOGSTATSD_URL=${JSON.stringify(url)} names no socket path (expected unix:///path)` };
    return { ok: true, address: { protocol: 'uds', path } };
  }
  if (parsed.protocol === 'udp:') {
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = parsed.port ? parsePort(parsed.port) : DEFAULT_PORT;
    if (!host) return { ok: false, problem: `DD_DOGSTATSD_URL=${JSON.stringify(url)} names no host (expected udp://host:port)` };
    if (port === undefined) return { ok: false, problem: `DD_DOGSTATSD_URL=${JSON.stringify(url)} has no valid port` };
    return { ok: true, address: { protocol: 'udp', host, port } };
  }
  return { ok: false, problem: `DD_DOGSTATSD_URL=${JSON.stringify(url)}: scheme ${parsed.protocol} is not supported (expected udp://host:port or unix:///path)` };
}

function parsePort(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}
