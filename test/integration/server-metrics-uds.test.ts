/**
 * DogStatsD over a Unix datagram socket (DD_DOGSTATSD_URL=unix://…), the transport the Datadog
 * agent's containers and Kubernetes set-ups use. A real unix datagram socket in the test is the
 * agent. unix-dgram is hot-shots' native module, rebuilt for Node 24 at install time
 * (scripts/rebuild-native.mjs); this test fails if that rebuild stops working.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { echo } from '../helpers/calls.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';

interface UnixDgramSocket {
  on(event: 'message', listener: (datagram: Buffer) => void): void;
  bind(path: string): void;
  close(): void;
}
const fromHotShots = createRequire(createRequire(import.meta.url).resolve('hot-shots'));
const unixDgram = fromHotShots('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };

describe('the server reports DogStatsD metrics over a Unix datagram socket', () => {
  const lines: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-dsd-'));
  const socketPath = path.join(dir, 'dsd.socket');
  const agent = unixDgram.createSocket('unix_dgram');
  let t: TestServer;
  before(async () => {
    agent.on('message', (datagram) => lines.push(...datagram.toString('utf8').split('\n').filter(Boolean)));
    agent.bind(socketPath);
    process.env.DD_DOGSTATSD_URL = `unix://${socketPath}`;
    t = await startTestServer();
  });
  after(async () => {
    delete process.env.DD_DOGSTATSD_URL;
    await t.stop();
    agent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts an Echo with its status and sends the can_connect service check', async () => {
    await echo(t.client());
    await waitUntil(() => lines.some((l) => l.startsWith('dts.grpc.requests:1|c|') && l.includes('code:OK')) && lines.some((l) => l.startsWith('_sc|dts.can_connect|0')));
    const request = lines.find((l) => l.startsWith('dts.grpc.requests:1|c|'))!;
    assert.match(request, /method:\/drawthings\.ImageGenerationService\/Echo/);
    assert.match(request, /service:dts-util/);
    // No warning that the socket could not be used: the native module loaded and sent.
    assert.ok(!t.logs.some((l) => /unix-dgram/.test(l)), t.logs.filter((l) => /unix-dgram/.test(l)).join('\n'));
  });
});
