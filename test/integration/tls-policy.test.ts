/**
 * The server's TLS policy: TLS 1.2 only with the suites HTTP/2 allows (ECDHE, AEAD), TLS 1.3 as
 * Node offers it. Probed with raw TLS handshakes, as a scanner (openssl s_client) would.
 */
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';

import { echo } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Completes a handshake with the given client options: the negotiated protocol and cipher, or the error. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | Error> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false, ...options }, () => {
      resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.destroy();
    });
    socket.once('error', (error) => resolve(error));
  });
}

describe('TLS cipher policy', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('refuses a TLS 1.2 suite HTTP/2 forbids (AES128-SHA: CBC, no forward secrecy), and TLS before 1.2; ECDHE AEAD on TLS 1.2 and TLS 1.3 work', async () => {
    const forbidden = await handshake(t.server.port, { ciphers: 'AES128-SHA', maxVersion: 'TLSv1.2' });
    assert.ok(forbidden instanceof Error, `the AES128-SHA handshake succeeded: ${JSON.stringify(forbidden)}`);
    assert.match(forbidden.message, /handshake failure|no shared cipher|SSL alert/i);
    const old = await handshake(t.server.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    assert.ok(old instanceof Error, `the TLS 1.1 handshake succeeded: ${JSON.stringify(old)}`);

    assert.deepEqual(await handshake(t.server.port, { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }), { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
    const modern = await handshake(t.server.port, {});
    assert.ok(!(modern instanceof Error), String(modern));
    assert.equal(modern.protocol, 'TLSv1.3');
    assert.equal((await echo(t.client())).message, 'HELLO');
  });
});
