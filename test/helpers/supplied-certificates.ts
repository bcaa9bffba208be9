import fs from 'node:fs';
import path from 'node:path';

import forge from 'node-forge';

import { ensureCertificates, CA_CERT_FILE, SERVER_CERT_FILE } from '../../src/tls/certificates.js';

export interface CertificateFiles {
  cert: string;
  key: string;
  /** The CA that signed it (the certificate itself when self-signed). */
  ca: string;
}

/** A certificate for `name` from a CA of its own, as a public CA's would be: the chain does not verify through the system's roots. */
export function privateCaCertificate(dir: string, name: string): CertificateFiles {
  ensureCertificates(dir, [name]);
  return { cert: path.join(dir, SERVER_CERT_FILE), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, CA_CERT_FILE) };
}

/** A self-signed certificate for `name`, valid from `from` for `days` days (in the past, to make an expired one). */
export function selfSignedCertificate(dir: string, name: string, from = new Date(Date.now() - 3_600_000), days = 30): CertificateFiles {
  fs.mkdirSync(dir, { recursive: true });
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = from;
  cert.validity.notAfter = new Date(from.getTime() + days * 86_400_000);
  const subject = [{ name: 'commonName', value: name }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 2, value: name }] }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const files = { cert: path.join(dir, 'fullchain.pem'), key: path.join(dir, 'privkey.pem') };
  fs.writeFileSync(files.cert, forge.pki.certificateToPem(cert));
  fs.writeFileSync(files.key, forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
  return { ...files, ca: files.cert };
}
