import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { checkHealth } from '../../src/client/client.js';
import { ensureCertificates } from '../../src/tls/certificates.js';
import { tempHome } from '../helpers/temp-home.js';
import { echo, grpcError } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('TLS server (default)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('answers Echo with HELLO over TLS verified against the install CA', async () => {
    assert.equal((await echo(t.client())).message, 'HELLO');
  });

  it('serves grpc.health.v1 for the server and the service', async () => {
    const c = t.client();
    assert.equal(await checkHealth(c, '', 5000), 'SERVING');
    assert.equal(await checkHealth(c, 'drawthings.ImageGenerationService', 5000), 'SERVING');
  });

  it('fails the handshake for a client that trusts another CA', async () => {
    const other = tempHome();
    try {
      const foreign = ensureCertificates(other.home, ['localhost']);
      const error = await grpcError(echo(t.client({ caPem: foreign.caCertPem })));
      assert.equal(error.code, status.UNAVAILABLE);
    } finally {
      other.cleanup();
    }
  });

  it('refuses a plaintext client', async () => {
    const error = await grpcError(echo(t.client({ tls: false })));
    assert.equal(error.code, status.UNAVAILABLE);
  });

  it('listens on loopback only: 127.0.0.1 and ::1', () => {
    assert.deepEqual(
      t.server.addresses.map((a) => a.replace(/:\d+$/, '')),
      ['127.0.0.1', '[::1]'],
    );
  });

  it('sends the request id back and logs the call under it', async () => {
    const c = t.client();
    const requestId = await new Promise<string>((resolve, reject) => {
      const call = c.service.echo({}, (error) => error && reject(error));
      call.on('metadata', (md) => resolve(String(md.get('x-request-id')[0])));
    });
    assert.match(requestId, /^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 50));
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.requestId === requestId);
    assert.equal(line?.method, '/drawthings.ImageGenerationService/Echo');
    assert.equal(line?.code, 'OK');
  });
});

describe('plaintext server (--no-tls)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ tls: false });
  });
  after(() => t.stop());

  it('answers Echo without TLS and writes no certificates', async () => {
    assert.equal((await echo(t.client())).message, 'HELLO');
    assert.equal(t.server.certificates, undefined);
  });
});
