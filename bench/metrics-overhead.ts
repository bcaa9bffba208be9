/**
 * Echo throughput with DogStatsD metrics on (sent to a local UDP socket standing in for the
 * agent) against metrics off, same machine, same run. Target ≥ 0.95×.
 *
 * Both servers run side by side for the whole measurement, are warmed alike, and take turns in
 * bursts, in ABBA order (on, off, off, on, …), so the client's own warm-up and the machine's drift
 * fall on both. With a fresh server per measurement, throughput rose up to 1.8× from the first
 * measurement to the last of a run, more than the effect being measured.
 * BENCH_ECHO_CALLS (default 2000 per burst), BENCH_ECHO_CONCURRENCY (default 16), BENCH_ROUNDS
 * (default 30 rounds of one burst each way: on this machine one round's ratio ranges over 0.7–1.3,
 * so with fewer rounds the mean is uncertain by about the 5% being measured).
 */
import dgram from 'node:dgram';

import { unaryCall } from '../src/client/client.js';
import { median } from '../src/util/median.js';
import { serveWithClient, type ServeWithClient } from '../test/helpers/cli.js';
import { tempHome } from '../test/helpers/temp-home.js';

const calls = Number(process.env.BENCH_ECHO_CALLS ?? 2000);
const concurrency = Number(process.env.BENCH_ECHO_CONCURRENCY ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
const WARM_UP_CALLS = 3000;

/** Calls per second for `count` Echo calls, `concurrency` at a time. */
async function echoThroughput({ connection }: ServeWithClient, count: number): Promise<number> {
  const echo = () => unaryCall(connection.service, connection.service.echo, {}, 10_000);
  let left = count;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await echo();
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

export async function benchMetrics(): Promise<{ ratio: number }> {
  const agent = dgram.createSocket('udp4');
  let datagrams = 0;
  agent.on('message', () => datagrams++);
  await new Promise<void>((resolve) => agent.bind(0, '127.0.0.1', resolve));
  const agentUrl = `udp://127.0.0.1:${agent.address().port}`;
  const onHome = tempHome('dts-bench-metrics-on-');
  const offHome = tempHome('dts-bench-metrics-off-');
  const on = await serveWithClient([], onHome.home, { ...onHome.env, DD_DOGSTATSD_URL: agentUrl });
  const off = await serveWithClient(['--no-metrics'], offHome.home, { ...offHome.env, DD_DOGSTATSD_URL: agentUrl });
  const ratios: number[] = [];
  try {
    await echoThroughput(on, WARM_UP_CALLS);
    await echoThroughput(off, WARM_UP_CALLS);
    for (let round = 1; round <= rounds; round++) {
      const onFirst = round % 2 === 1;
      const first = await echoThroughput(onFirst ? on : off, calls);
      const second = await echoThroughput(onFirst ? off : on, calls);
      const [withMetrics, without] = onFirst ? [first, second] : [second, first];
      ratios.push(withMetrics / without);
      console.log(`metrics round ${round}: Echo ${withMetrics.toFixed(0)} calls/s with metrics vs ${without.toFixed(0)} without (${concurrency} concurrent, TLS, ${onFirst ? 'with' : 'without'} first) → ratio ${(withMetrics / without).toFixed(3)}`);
    }
  } finally {
    await on.stop();
    await off.stop();
    onHome.cleanup();
    offHome.cleanup();
    agent.close();
  }
  // The geometric mean, not the median: whichever server goes second in a round often ran faster
  // (up to 1.6× here), and in ABBA order that factor multiplies half the ratios and divides the
  // other half, so it cancels in the product; a median lands on one side of it or the other.
  const ratio = Math.exp(ratios.reduce((sum, r) => sum + Math.log(r), 0) / ratios.length);
  console.log(`metrics: Echo throughput with/without metrics geometric mean ${ratio.toFixed(3)} over ${rounds} rounds (median ${median(ratios).toFixed(3)}) (target ≥ 0.95) ${ratio >= 0.95 ? 'MET' : 'NOT MET'}; the agent stand-in received ${datagrams} datagrams`);
  return { ratio };
}

if (import.meta.url === `file://${process.argv[1]}`) await benchMetrics();
