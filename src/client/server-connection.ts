import path from 'node:path';

import { UsageError } from '../config/errors.js';
import type { ConnectionSettings } from '../config/settings.js';
import { CA_CERT_FILE } from '../tls/certificates.js';
import { loadTrustedCa } from './check-ca.js';
import { connect, type Connection } from './client.js';
import { dialAddress } from './server-address.js';

/** The CA file a client command trusts: --ca, else the install's own. */
export function caPathFor(settings: ConnectionSettings, flagCa: string | undefined): string {
  return flagCa ?? path.join(settings.paths.tlsDir, CA_CERT_FILE);
}

/** A connection to the configured (or flagged) server, for client commands; no CA → a usage error saying how to get one. */
export function connectToServer(settings: ConnectionSettings, caPath: string | undefined): Connection {
  let caPem: string | undefined;
  if (settings.tls) {
    const ca = loadTrustedCa(caPathFor(settings, caPath), caPath !== undefined);
    if ('problem' in ca) throw new UsageError(ca.problem, 'start the server once (dts-util serve or dts-util install), or pass its ca.pem with --ca');
    caPem = ca.pem;
  }
  return connect({ address: dialAddress(settings.host, settings.port), tls: settings.tls, caPem, sharedSecret: settings.sharedSecret });
}
