import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import tls from 'node:tls';

import { UsageError } from '../config/errors.js';
import type { ConnectionSettings } from '../config/settings.js';
import { CA_CERT_FILE } from '../tls/certificates.js';
import { certificateDnsNames } from '../tls/supplied-certificate.js';
import { loadTrustedCa, type TrustedCa } from './check-ca.js';
import { connect, type Connection } from './client.js';
import { dialAddress } from './server-address.js';

/** The file a client command trusts, as its messages name it: --ca, else a supplied certificate, else the install's own CA. */
export function caPathFor(settings: ConnectionSettings, flagCa: string | undefined): string {
  return flagCa ?? settings.tlsCert ?? path.join(settings.paths.tlsDir, CA_CERT_FILE);
}

/**
 * What a client trusts: --ca when given; else, for a server with a supplied certificate
 * (`--tls-cert`), the system's roots plus that certificate file (a public CA's chain verifies
 * through the roots, a self-signed one through itself), verified under its own name; else the
 * install's CA.
 */
export function trustFor(settings: ConnectionSettings, flagCa: string | undefined): TrustedCa | { problem: string } {
  const supplied = settings.tlsCert ? suppliedTrust(settings.tlsCert) : undefined;
  if (flagCa !== undefined || !supplied) {
    const ca = loadTrustedCa(flagCa ?? path.join(settings.paths.tlsDir, CA_CERT_FILE), flagCa !== undefined);
    return 'problem' in ca || !supplied || 'problem' in supplied ? ca : { ...ca, serverName: supplied.serverName };
  }
  return supplied;
}

function suppliedTrust(certPath: string): TrustedCa | { problem: string } {
  const certificate = loadTrustedCa(certPath, false);
  if ('problem' in certificate) return { problem: `the server's certificate (tlsCert): ${certificate.problem}` };
  const [name] = certificateDnsNames(new X509Certificate(certificate.pem));
  return { ...certificate, pem: `${tls.rootCertificates.join('\n')}\n${certificate.pem}`, ...(name ? { serverName: name } : {}) };
}

/** A connection to the configured (or flagged) server, for client commands; no CA → a usage error saying how to get one. */
export function connectToServer(settings: ConnectionSettings, caPath: string | undefined): Connection {
  let ca: TrustedCa | undefined;
  if (settings.tls) {
    const trusted = trustFor(settings, caPath);
    if ('problem' in trusted) throw new UsageError(trusted.problem, 'start the server once (dts-util serve or dts-util install), or pass its ca.pem with --ca');
    ca = trusted;
  }
  return connect({ address: dialAddress(settings.host, settings.port), tls: settings.tls, caPem: ca?.pem, serverName: ca?.serverName, sharedSecret: settings.sharedSecret });
}
