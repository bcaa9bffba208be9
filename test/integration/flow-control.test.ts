import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';

import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../../src/server/flow-control.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('HTTP/2 receive windows (upload throughput)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ tls: false });
  });
  after(() => t.stop());

  it('advertises the large stream window and raises the connection window', async () => {
    const session = http2.connect(`http://${t.address}`);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
      assert.equal(session.remoteSettings.initialWindowSize, STREAM_WINDOW_BYTES);
      // The connection window arrives as a WINDOW_UPDATE right after the settings.
      const deadline = Date.now() + 5000;
      while ((session.state.remoteWindowSize ?? 0) < CONNECTION_WINDOW_BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(session.state.remoteWindowSize, CONNECTION_WINDOW_BYTES);
    } finally {
      session.close();
    }
  });
});
