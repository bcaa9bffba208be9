/**
 * Echo throughput with DogStatsD metrics on (sent to a local UDP socket standing in for the
 * agent) against metrics off, same machine, same run, alternating. Target ≥ 0.95×.
 * BENCH_ECHO_CALLS (default 4000 per measurement), BENCH_ECHO_CONCURRENCY (default 16).
 */
import dgram from 'node:dgram';

import { unaryCall } from '../src/client/client.js';
import { median } from '../src/median.js';
import { serveWithClient } from '../test/helpers/cli.js';
import { tempHome } from '../test/helpers/temp-home.js';

const calls = Number(process.env.BENCH_ECHO_CALLS ?? 4000);
const concurrency = Number(process.env.BENCH_ECHO_CONCURRENCY ?? 16);

async function echoThroughput(metrics: boolean, agentPort: number): Promise<number> {
  const home = tempHome('dts-bench-metrics-');
  const env = { ...home.env, DD_DOGSTATSD_URL: `udp://127.0.0.1:${agentPort}` };
  const { connection, stop } = await serveWithClient(metrics ? ['--log-level', 'info'] : ['--no-metrics'], home.home, env);
  try {
    const echo = () => unaryCall(connection.service, connection.service.echo, {}, 10_000);
    for (let i = 0; i < 300; i++) await echo(); // warm both sides
    let left = calls;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await echo();
      }),
    );
    return calls / ((performance.now() - started) / 1000);
  } finally {
    await stop();
    home.cleanup();
  }
}

export async function benchMetrics(): Promise<{ ratio: number }> {
  const agent = dgram.createSocket('udp4');
  let datagrams = 0;
  agent.on('message', () => datagrams++);
  await new Promise<void>((resolve) => agent.bind(0, '127.0.0.1', resolve));
  const port = agent.address().port;
  const ratios: number[] = [];
  try {
    for (let round = 1; round <= 4; round++) {
      // Alternate which goes first, so warm caches and CPU boost do not favour one side.
      const first = await echoThroughput(round % 2 === 0, port);
      const second = await echoThroughput(round % 2 !== 0, port);
      const [on, off] = round % 2 === 0 ? [first, second] : [second, first];
      ratios.push(on / off);
      console.log(`metrics round ${round}: Echo ${on.toFixed(0)} calls/s with metrics vs ${off.toFixed(0)} without (${concurrency} concurrent, TLS) → ratio ${(on / off).toFixed(3)}`);
    }
  } finally {
    agent.close();
  }
  const ratio = median(ratios);
  console.log(`metrics: Echo throughput with/without metrics median ${ratio.toFixed(3)} (target ≥ 0.95) ${ratio >= 0.95 ? 'MET' : 'NOT MET'}; the agent stand-in received ${datagrams} datagrams`);
  return { ratio };
}

if (import.meta.url === `file://${process.argv[1]}`) await benchMetrics();
