import { status, type ServiceError } from '@grpc/grpc-js';

import { explainFailure } from './check-grpc-error.js';

/** How OpenSSL (through grpc-js) says the server's certificate chains to no CA this client trusts. */
const UNKNOWN_CA = /unable to verify|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate signature failure/i;

/**
 * A failed call as what to do next. grpc-js reports an unknown CA as plain UNAVAILABLE ("Is the
 * server running?" would mislead): name the CA file that was used and where the right one is.
 */
export function explainConnectionFailure(error: unknown, caPath: string, timeoutMs?: number): string {
  const e = error as Partial<ServiceError>;
  if (e.code === status.UNAVAILABLE && UNKNOWN_CA.test(e.details ?? '')) {
    return `the server's TLS certificate is not signed by the CA in ${caPath}; pass the server's own ca.pem with --ca (the server logs its path and fingerprint at start-up: caPath, caFingerprint)`;
  }
  return explainFailure(error, timeoutMs);
}
