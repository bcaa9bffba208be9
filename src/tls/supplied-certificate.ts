import crypto from 'node:crypto';
import fs from 'node:fs';

import { UsageError } from '../config/errors.js';

/** A certificate chain and key the user brought (`--tls-cert`, `--tls-key`), checked. */
export interface SuppliedCertificate {
  certPath: string;
  keyPath: string;
  /** The chain as the file has it: leaf first, then its intermediates. */
  certPem: string;
  keyPem: string;
  /** The leaf's DNS names (subjectAltName), the names a client must dial or verify. */
  dnsNames: string[];
  /** SHA-256 of the leaf, `AB:CD:…`, as the start-up log says it. */
  fingerprint: string;
  validTo: string;
  /** Whether users other than the server's can read the key file (the start-up log warns). */
  keyReadableByOthers: boolean;
}

const HOW = "give the certificate chain (fullchain.pem from Let's Encrypt) with --tls-cert and its private key (privkey.pem) with --tls-key";

/**
 * Reads and checks what the user gave before the server listens: both files read, the first
 * certificate parses, the key parses and is the certificate's, and the certificate is in its
 * validity period. Each problem is a usage error naming the file (never the key's content).
 */
export function loadSuppliedCertificate(certPath: string, keyPath: string, now = new Date()): SuppliedCertificate {
  const certPem = readPem(certPath, '--tls-cert');
  const keyPem = readPem(keyPath, '--tls-key');
  let leaf: crypto.X509Certificate;
  try {
    leaf = new crypto.X509Certificate(certPem);
  } catch {
    throw new UsageError(`${certPath} (--tls-cert) is not a PEM certificate`, HOW);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(keyPem);
  } catch {
    throw new UsageError(`${keyPath} (--tls-key) is not an unencrypted PEM private key`, `${HOW}; an encrypted key must be decrypted first (openssl pkey -in KEY -out KEY.plain)`);
  }
  if (!leaf.checkPrivateKey(key)) throw new UsageError(`the key in ${keyPath} is not the private key of the certificate in ${certPath}`, HOW);
  if (new Date(leaf.validTo) <= now) throw new UsageError(`the certificate in ${certPath} expired on ${leaf.validTo}`, 'renew it (certbot renew) and restart the server');
  if (new Date(leaf.validFrom) > now) throw new UsageError(`the certificate in ${certPath} is not valid before ${leaf.validFrom}`, "check this machine's clock");
  const dnsNames = certificateDnsNames(leaf);
  const keyReadableByOthers = (fs.statSync(keyPath).mode & 0o004) !== 0;
  return { certPath, keyPath, certPem, keyPem, dnsNames, fingerprint: leaf.fingerprint256, validTo: leaf.validTo, keyReadableByOthers };
}

/** A certificate's DNS names (subjectAltName's DNS: entries), in its order. */
export function certificateDnsNames(certificate: crypto.X509Certificate): string[] {
  return (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
}

function readPem(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file} given with ${flag} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, HOW);
  }
}
