import os from 'node:os';

import { Bonjour } from 'bonjour-service';

import type { Logger } from '../log/logger.js';

/** The service type the Draw Things app browses for (`_dt-grpc._tcp` in `local.`). */
export const DRAW_THINGS_SERVICE_TYPE = 'dt-grpc';

export interface Advertisement {
  /** The instance name, as the app lists it: `<host>_tls` or `<host>_notls`. */
  name: string;
  /** Sends the goodbye (a TTL of 0), so browsers drop the server at once, and closes the socket. */
  stop(): Promise<void>;
}

/**
 * The instance name the app's own server advertises (GRPCServerAdvertiser in draw-things-community):
 * its name with `_tls` or `_notls` appended, which the app's browser strips to learn whether to
 * connect with TLS. Ours is this machine's short host name.
 */
export function advertisedName(tls: boolean, host = os.hostname()): string {
  return `${host.split('.')[0] || 'dts-util'}_${tls ? 'tls' : 'notls'}`;
}

/**
 * Advertises the server on the local network over multicast DNS (bonjour-service, a pure-JS
 * responder), so the app's server list finds it. A network without multicast is no reason to
 * stop serving: mDNS errors are logged once and the server goes on.
 */
export function advertise(port: number, tls: boolean, logger: Logger): Advertisement {
  let warned = false;
  const bonjour = new Bonjour({}, (error: Error) => {
    if (warned) return;
    warned = true;
    logger.warn('Bonjour (mDNS) advertising failed; clients must be given the address by hand', { error: error.message });
  });
  const name = advertisedName(tls);
  bonjour.publish({ name, type: DRAW_THINGS_SERVICE_TYPE, protocol: 'tcp', port });
  return {
    name,
    stop: () => new Promise<void>((resolve) => bonjour.unpublishAll(() => bonjour.destroy(() => resolve()))),
  };
}
