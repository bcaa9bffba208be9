import crypto from 'node:crypto';
import fs from 'node:fs';

import { UsageError } from '../config/errors.js';

export interface TrustedCa {
  path: string;
  pem: string;
  /** SHA-256 of the CA certificate, `AB:CD:…`, as `serve` logs it. */
  fingerprint: string;
  /** The name to verify when dialling an IP address (a supplied certificate's), instead of localhost. */
  serverName?: string;
}

/**
 * Reads the CA the client trusts. A file the user named with --ca that cannot be used is a
 * usage error (exit 2: the command line is wrong); the install's own CA missing is a finding
 * about the server's state (exit 1), so that comes back as a message for the tls check.
 */
export function loadTrustedCa(file: string, namedByUser: boolean): TrustedCa | { problem: string } {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    if (namedByUser) throw new UsageError(`cannot read the CA certificate ${file} given with --ca (${why})`, "pass the server's ca.pem (its tls folder has it)");
    return { problem: `no CA certificate at ${file} (${why}): start the server once (dts-util serve) to create it, or pass --ca` };
  }
  let fingerprint: string;
  try {
    fingerprint = new crypto.X509Certificate(pem).fingerprint256;
  } catch {
    if (namedByUser) throw new UsageError(`${file} given with --ca is not a PEM certificate`, "pass the server's ca.pem (its tls folder has it)");
    return { problem: `${file} is not a PEM certificate: restore it from the server's tls folder, or pass --ca` };
  }
  return { path: file, pem, fingerprint };
}
