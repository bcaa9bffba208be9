import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { status } from '@grpc/grpc-js';

import { checkHealth } from '../../src/client/client.js';
import { echo, filesExist, grpcError } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'correct-horse-battery-staple-7421';

for (const tls of [true, false]) {
  describe(`shared secret (${tls ? 'TLS' : 'plaintext'})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ tls }, { DTS_UTIL_SHARED_SECRET: SECRET });
    });
    after(() => t.stop());

    it('accepts the right secret', async () => {
      assert.equal((await echo(t.client({ sharedSecret: SECRET }))).message, 'HELLO');
    });

    it('answers UNAUTHENTICATED without a secret, with a hint how to send it', async () => {
      const error = await grpcError(echo(t.client()));
      assert.equal(error.code, status.UNAUTHENTICATED);
      assert.match(error.details, /authorization: Bearer/);
    });

    it('answers UNAUTHENTICATED for a wrong secret, on every method', async () => {
      const c = t.client({ sharedSecret: `${SECRET}x` });
      assert.equal((await grpcError(echo(c))).code, status.UNAUTHENTICATED);
      assert.equal((await grpcError(filesExist(c, ['a']))).code, status.UNAUTHENTICATED);
    });

    it('keeps health checks open, so probes work without the secret', async () => {
      assert.equal(await checkHealth(t.client(), '', 5000), 'SERVING');
    });

    it('never writes the secret to the log', async () => {
      await grpcError(echo(t.client({ sharedSecret: `${SECRET}-wrong` })));
      await echo(t.client({ sharedSecret: SECRET }));
      assert.ok(t.logs.length > 0);
      assert.ok(!t.logs.join('').includes(SECRET), 'the secret leaked into the log');
    });
  });
}
