import { ServerCredentials } from '@grpc/grpc-js';

/**
 * TLS 1.2 suites HTTP/2 allows (RFC 9113 §9.2.2: ephemeral key exchange, AEAD ciphers only), the
 * strongest first. OpenSSL's default list also offers CBC suites such as AES128-SHA (no forward
 * secrecy, HTTP/2's block list), which grpc-js's createSsl() keeps. TLS 1.3's suites are all
 * AEAD and stay Node's defaults: they are named apart (TLS_…), and none is listed here.
 */
export const HTTP2_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

/**
 * Server TLS credentials with that cipher policy and TLS 1.2 as the oldest version. createSsl()
 * takes no cipher list (only the GRPC_SSL_CIPHER_SUITES variable, for the whole process), so this
 * gives grpc-js the options it hands to http2.createSecureServer() itself.
 */
class PolicyServerCredentials extends ServerCredentials {
  constructor(certChainPem: string, privateKeyPem: string) {
    super({ ciphers: HTTP2_TLS12_CIPHERS, honorCipherOrder: true, minVersion: 'TLSv1.2', requestCert: false }, { cert: certChainPem, key: privateKeyPem });
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

export function serverTlsCredentials(certChainPem: string, privateKeyPem: string): ServerCredentials {
  return new PolicyServerCredentials(certChainPem, privateKeyPem);
}
