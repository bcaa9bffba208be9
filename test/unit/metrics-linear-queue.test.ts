import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';

import { StatsD } from 'hot-shots';

import { queueInLinearTime } from '../../src/metrics/linear-queue.js';

describe('hot-shots datagram queue counted in linear time', () => {
  it('applies to the installed hot-shots, keeps its byte count exact, and delivers every line within the datagram limit', async () => {
    const agent = dgram.createSocket('udp4');
    const datagrams: Buffer[] = [];
    agent.on('message', (message) => datagrams.push(message));
    await new Promise<void>((resolve) => agent.bind(0, '127.0.0.1', resolve));
    const client = new StatsD({ host: '127.0.0.1', port: agent.address().port, maxBufferSize: 1000, bufferFlushInterval: 60_000, datadog: true, includeDatadogTelemetry: false });
    try {
      assert.equal(queueInLinearTime(client), true, 'hot-shots changed: review src/metrics/linear-queue.ts');
      const internals = client as unknown as { bufferHolder: { buffer: string }; bufferLength: number };
      // Multi-byte tags (é is two bytes), so counting characters instead of bytes would show.
      for (let i = 0; i < 300; i++) {
        client.increment('dts.test', i, [`n:${i}`, i % 3 === 0 ? 'note:café' : 'note:plain']);
        assert.equal(internals.bufferLength, Buffer.byteLength(internals.bufferHolder.buffer));
      }
      await new Promise<void>((resolve, reject) => client.close((error) => (error ? reject(error) : resolve())));
      while (datagrams.reduce((n, d) => n + d.toString('utf8').split('\n').length, 0) < 300) await new Promise((resolve) => setTimeout(resolve, 5));
      const lines = datagrams.flatMap((d) => d.toString('utf8').split('\n'));
      assert.deepEqual(
        lines.map((l) => Number(/^dts\.test:(\d+)\|c/.exec(l)?.[1])),
        Array.from({ length: 300 }, (_, i) => i),
      );
      assert.ok(datagrams.length > 1 && datagrams.every((d) => d.length <= 1000), `datagram sizes ${datagrams.map((d) => d.length).join(',')}`);
    } finally {
      agent.close();
    }
  });
});
