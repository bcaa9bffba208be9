/**
 * The access log: one line per call with its request id, method, status and duration. Successful
 * liveness probes (Echo, grpc.health.v1 Check) are debug lines, so the info log is not buried
 * under a probe every few seconds; a failed probe is a warning like any failed call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { echo, filesExist, grpcError } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

describe('the access log', () => {
  const secret = 'access-log-secret-7';
  let t: TestServer;
  before(async () => {
    t = await startTestServer({}, { DTS_UTIL_SHARED_SECRET: secret });
  });
  after(() => t.stop());

  const calls = (method: RegExp) => t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'call' && method.test(String(l.method)));

  it('logs a successful Echo at debug, a refused one at warn, and other calls at info', async () => {
    const client = t.client({ sharedSecret: secret });
    await echo(client);
    await filesExist(client, ['nothing.onnx']);
    await grpcError(echo(t.client()));
    await waitUntil(() => calls(/Echo$/).length === 2 && calls(/FilesExist$/).length === 1);
    assert.deepEqual(calls(/Echo$/).map((l) => [l.level, l.code]), [['debug', 'OK'], ['warn', 'UNAUTHENTICATED']]);
    assert.deepEqual(calls(/FilesExist$/).map((l) => [l.level, l.code]), [['info', 'OK']]);
    for (const line of [...calls(/Echo$/), ...calls(/FilesExist$/)]) assert.match(String(line.requestId), /^[0-9a-f-]{36}$/);
  });
});
