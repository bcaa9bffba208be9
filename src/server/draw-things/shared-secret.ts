import crypto from 'node:crypto';

/** What a call that needs the secret answers without it (UNAUTHENTICATED); Echo answers OK with sharedSecretMissing instead. */
export const DRAW_THINGS_SECRET_REFUSAL = "this server requires a shared secret: send it in the request's sharedSecret field (the Draw Things app: Server Offload settings)";

/**
 * Whether a Draw Things request carries the server's secret. This protocol sends it in each
 * request's `sharedSecret` field, not in metadata, so the seed's interceptor cannot check it.
 * No secret on the server: every request passes (as in the app). The comparison runs in constant
 * time over SHA-256 digests, so neither the secret's content nor its length leaks through timing.
 */
export function secretChecker(secret: string | undefined): (given: string | undefined) => boolean {
  if (!secret) return () => true;
  const expected = digest(secret);
  return (given) => given !== undefined && crypto.timingSafeEqual(digest(given), expected);
}

function digest(value: string): Buffer {
  return crypto.createHash('sha256').update(value, 'utf8').digest();
}
