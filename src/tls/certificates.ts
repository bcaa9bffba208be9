import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import forge from 'node-forge';

import { ensurePrivateDir, writeFileAtomic } from './files.js';

export const CA_CERT_FILE = 'ca.pem';
const CA_KEY_FILE = 'ca-key.pem';
export const SERVER_CERT_FILE = 'server.pem';
const SERVER_KEY_FILE = 'server-key.pem';

const CA_YEARS = 10;
const SERVER_DAYS = 825;
/** A server certificate this close to expiry is reissued at start. */
const RENEW_BEFORE_DAYS = 30;

export interface Certificates {
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  caPath: string;
  /** SHA-256 of the CA certificate (DER), colon-separated hex, to check out of band. */
  caFingerprint: string;
  created: boolean;
}

/** The names every server certificate covers, plus a specific --host when given. */
export function certificateNames(host: string | undefined): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', os.hostname()]);
  const bare = host?.replace(/^\[|\]$/g, '');
  if (bare && bare !== '0.0.0.0' && bare !== '::') names.add(bare);
  return [...names];
}

/**
 * Loads the install's CA and server certificate from tlsDir, creating whatever is missing: a CA
 * of this install's own (never a key shared between installs) and a server certificate it signs
 * for `names`. A server certificate that lacks a name or is near expiry is reissued by the same CA,
 * so clients that trust the CA keep working.
 */
export function ensureCertificates(tlsDir: string, names: string[]): Certificates {
  ensurePrivateDir(tlsDir);
  const file = (name: string) => path.join(tlsDir, name);
  let created = false;

  let caCertPem = readIfExists(file(CA_CERT_FILE));
  let caKeyPem = readIfExists(file(CA_KEY_FILE));
  if (!caCertPem || !caKeyPem) {
    ({ certPem: caCertPem, keyPem: caKeyPem } = createCa());
    writeFileAtomic(file(CA_KEY_FILE), caKeyPem, 0o600);
    writeFileAtomic(file(CA_CERT_FILE), caCertPem, 0o644);
    fs.rmSync(file(SERVER_CERT_FILE), { force: true });
    created = true;
  }

  let serverCertPem = readIfExists(file(SERVER_CERT_FILE));
  let serverKeyPem = readIfExists(file(SERVER_KEY_FILE));
  if (!serverCertPem || !serverKeyPem || !serverCertFits(serverCertPem, caCertPem, names)) {
    ({ certPem: serverCertPem, keyPem: serverKeyPem } = createServerCert(caCertPem, caKeyPem, names));
    writeFileAtomic(file(SERVER_KEY_FILE), serverKeyPem, 0o600);
    writeFileAtomic(file(SERVER_CERT_FILE), serverCertPem, 0o644);
    created = true;
  }
  return { caCertPem, serverCertPem, serverKeyPem, caPath: file(CA_CERT_FILE), caFingerprint: fingerprint(caCertPem), created };
}

/** SHA-256 over the certificate's DER bytes, as `AB:CD:…` (what browsers and openssl show). */
export function fingerprint(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

// RSA keys come from Node's native generator: node-forge's pure-JS one takes seconds.
function newKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  return { publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), privateKey: forgeKey, keyPem };
}

function newCertificate(publicKey: forge.pki.rsa.PublicKey, notAfter: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 128-bit serial: the high bit cleared so DER does not read it as negative.
  const serial = crypto.randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = notAfter;
  return cert;
}

function createCa(): { certPem: string; keyPem: string } {
  const keys = newKeyPair();
  const cert = newCertificate(keys.publicKey, new Date(Date.now() + CA_YEARS * 365 * 86_400_000));
  const subject = [
    { name: 'commonName', value: `dts-util CA ${os.hostname()} ${crypto.randomBytes(4).toString('hex')}` },
    { name: 'organizationName', value: 'dts-util' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

function createServerCert(caCertPem: string, caKeyPem: string, names: string[]): { certPem: string; keyPem: string } {
  const ca = forge.pki.certificateFromPem(caCertPem);
  const keys = newKeyPair();
  const cert = newCertificate(keys.publicKey, new Date(Date.now() + SERVER_DAYS * 86_400_000));
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // type 2 = DNS name, 7 = IP address
    { name: 'subjectAltName', altNames: names.map((name) => (net.isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(caKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

function serverCertFits(serverCertPem: string, caCertPem: string, names: string[]): boolean {
  try {
    const cert = new crypto.X509Certificate(serverCertPem);
    const ca = new crypto.X509Certificate(caCertPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (new Date(cert.validTo).getTime() - Date.now() < RENEW_BEFORE_DAYS * 86_400_000) return false;
    return names.every((name) => (net.isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined));
  } catch {
    return false;
  }
}
