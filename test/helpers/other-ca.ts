import path from 'node:path';

import { CA_CERT_FILE, certificateNames, ensureCertificates } from '../../src/tls/certificates.js';

/** Another install's CA under `home`: a server of this install chains to nothing it signs. */
export function otherInstallCa(home: string): string {
  const tlsDir = path.join(home, 'other-tls');
  ensureCertificates(tlsDir, certificateNames(undefined));
  return path.join(tlsDir, CA_CERT_FILE);
}

/** What every client command says when the server's certificate is not signed by `caPath`. */
export function unknownCaAdvice(caPath: string): string {
  return `the server's TLS certificate is not signed by the CA in ${caPath}; pass the server's own ca.pem with --ca`;
}
