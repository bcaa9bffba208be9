import type { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

import { isLoopbackHost } from '../config/settings.js';
import type { TrustedCa } from './check-ca.js';
import { CheckFailure, runCheck, type CertificateFacts, type Check } from './check-result.js';

const DAY_MS = 86_400_000;
/** Closer to expiry than this fails: a CI run should catch it before clients do. */
const FAIL_WITHIN_DAYS = 7;
/** `serve` reissues its certificate at start when it is this close to expiry, so warn from here. */
const WARN_WITHIN_DAYS = 30;

/** OpenSSL's ways of saying "no chain from this certificate to a CA you trust". */
const UNKNOWN_CA_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * A TLS handshake of its own (node:tls, not through gRPC) so it can say what the server's
 * certificate is and, when it is refused, exactly why: gRPC only reports "UNAVAILABLE".
 */
export function checkTls(address: string, ca: TrustedCa, timeoutMs: number): Promise<Check> {
  // Reported whatever happens: the fingerprint is what a user compares with the server's log.
  const caFacts = { caPath: ca.path, caFingerprint: ca.fingerprint };
  return runCheck('tls', timeoutMs, async () => {
    const { host, port } = splitAddress(address);
    // A supplied certificate names its host, not localhost: dialling an IP, verify that name.
    const servername = ca.serverName && net.isIP(host) ? ca.serverName : serverNameFor(host);
    const { certificate, refusal } = await handshake({ host, port, servername, caPem: ca.pem, address, timeoutMs });
    const facts = describeCertificate(certificate, refusal === undefined);
    if (refusal !== undefined) throw new CheckFailure(explainRefusal(refusal, facts, ca, servername ?? host), { certificate: facts });

    const expires = `expires ${facts.validTo.slice(0, 10)} (in ${facts.daysLeft} days)`;
    if (facts.daysLeft < FAIL_WITHIN_DAYS) {
      throw new CheckFailure(`the server's certificate ${expires}: restart dts-util serve, which reissues a certificate within ${WARN_WITHIN_DAYS} days of its expiry (or renew it)`, { certificate: facts });
    }
    const warning = facts.daysLeft < WARN_WITHIN_DAYS ? ` — WARNING: restart dts-util serve soon to reissue it` : '';
    const names = facts.subjectAltNames.map((n) => n.replace(/^(DNS|IP Address):/, '')).join(', ');
    return {
      detail: `certificate for ${names || facts.subject} (issued by ${facts.issuer}), ${expires}${warning}; CA ${ca.path} SHA-256 ${ca.fingerprint}`,
      certificate: facts,
    };
  }).then((check) => ({ ...check, ...caFacts }));
}

/** "127.0.0.1:7859" / "[::1]:7859" / "gpu-box.lan:7859" → host and port. */
function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[(.+)\]:(\d+)$/.exec(address) ?? /^(.+):(\d+)$/.exec(address);
  if (!match) throw new Error(`cannot tell host and port apart in ${address}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/**
 * The name the certificate must carry. Certificates this tool makes name `localhost`, and TLS
 * forbids an IP address as SNI, so loopback IPs are checked as localhost (as the gRPC client
 * does); another IP is matched against the certificate's IP entries; a host name as itself.
 */
function serverNameFor(host: string): string | undefined {
  if (!net.isIP(host)) return host;
  return isLoopbackHost(host) ? 'localhost' : undefined;
}

interface HandshakeRequest {
  host: string;
  port: number;
  servername: string | undefined;
  caPem: string;
  address: string;
  timeoutMs: number;
}

/**
 * Completes a handshake and hangs up. rejectUnauthorized is off so a refused certificate can
 * still be described; the verdict (authorizationError) is kept and turned into a failure.
 */
function handshake({ host, port, servername, caPem, address, timeoutMs }: HandshakeRequest): Promise<{ certificate: X509Certificate; refusal: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca: caPem, ALPNProtocols: ['h2'], rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake from ${address} within ${timeoutMs / 1000} s: check --host/--port and any firewall in between (or raise --timeout)`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(deadline);
      const certificate = socket.getPeerX509Certificate();
      const refusal = socket.authorized ? undefined : String(socket.authorizationError);
      socket.end();
      if (certificate) resolve({ certificate, refusal });
      else reject(new Error(`the server at ${address} sent no certificate`));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      socket.destroy();
      reject(new Error(explainSocketError(error, address, host)));
    });
  });
}

function explainSocketError(error: NodeJS.ErrnoException, address: string, host: string): string {
  const code = error.code ?? error.message;
  switch (error.code) {
    case 'ECONNREFUSED':
      return `nothing is listening at ${address} (ECONNREFUSED). Is the server running? Start it with \`dts-util serve\` (or check --host/--port)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${host} (${code}): check --host`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return `cannot reach ${address} (${code}): check --host/--port and any firewall in between`;
    default:
      // A plaintext server answers a ClientHello with HTTP/2 bytes, which OpenSSL calls a wrong version.
      return `no TLS handshake with ${address} (${code}): if the server runs with --no-tls, pass --no-tls`;
  }
}

function describeCertificate(certificate: X509Certificate, verified: boolean): CertificateFacts {
  const validTo = new Date(certificate.validTo);
  return {
    subject: oneLine(certificate.subject),
    subjectAltNames: certificate.subjectAltName ? certificate.subjectAltName.split(', ').map(compactIpv6) : [],
    issuer: oneLine(certificate.issuer),
    validTo: validTo.toISOString(),
    daysLeft: Math.floor((validTo.getTime() - Date.now()) / DAY_MS),
    verified,
  };
}

/** X509Certificate spells an IPv6 name out in full ("IP Address:0:0:0:0:0:0:0:1"): the short form people type. */
export function compactIpv6(subjectAltName: string): string {
  const ip = /^IP Address:(.*:.*)$/.exec(subjectAltName)?.[1];
  if (ip === undefined) return subjectAltName;
  try {
    return `IP Address:${new URL(`http://[${ip}]/`).hostname.slice(1, -1)}`;
  } catch {
    return subjectAltName;
  }
}

/** X509Certificate puts one attribute per line; a report wants "CN=…, O=…". */
const oneLine = (name: string) => name.split('\n').filter(Boolean).join(', ');

function explainRefusal(code: string, facts: CertificateFacts, ca: TrustedCa, name: string): string {
  if (UNKNOWN_CA_ERRORS.has(code)) {
    return `the server's certificate is not signed by ${ca.path}; pass the server's ca.pem with --ca (the certificate was issued by ${facts.issuer}; ${ca.path} has SHA-256 ${ca.fingerprint}, compare with caFingerprint in the server's start-up log)`;
  }
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server's certificate does not name ${name} (it names ${facts.subjectAltNames.join(', ') || facts.subject}): connect by one of those names, or start dts-util serve with --host ${name} so its certificate covers it`;
    case 'CERT_HAS_EXPIRED':
      return `the server's certificate expired on ${facts.validTo.slice(0, 10)}: restart dts-util serve, which reissues it (or renew it)`;
    case 'CERT_NOT_YET_VALID':
      return `the server's certificate is not valid yet: check the clocks of this machine and the server`;
    default:
      return `the server's certificate was refused (${code})`;
  }
}
