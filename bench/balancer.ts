/*
 * Three dts-util servers behind HAProxy (the configuration `balancer haproxy` writes) against one
 * server alone: generation throughput of the fleet ÷ (3 × one server), and the Echo latency the
 * balancer adds (p50/p99, Echo through HAProxy ÷ Echo straight to a server). Plaintext, loopback.
 * On a machine with fewer cores than servers the three share the CPU, so the throughput ratio
 * then measures the sharing, not the balancer; give each server its own device for the real figure.
 *   BENCH_BALANCER_STEPS (default 8), BENCH_BALANCER_JOBS (per server, default 2), BENCH_ECHO_CALLS (default 2000)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { connect, unaryCall, type Connection } from '../src/client/client.js';
import { balancerConfig } from '../src/balancer/balancer.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../src/generated/image_generation.js';
import { echo } from '../test/helpers/calls.js';
import { spawnServe, type ServeProcess } from '../test/helpers/cli.js';
import { startHaproxy, waitForBalancer } from '../test/helpers/haproxy.js';
import { freePort } from '../test/helpers/ports.js';
import { request } from '../test/helpers/requests.js';
import { tempHome } from '../test/helpers/temp-home.js';

const STEPS = Number(process.env.BENCH_BALANCER_STEPS ?? 8);
const JOBS = Number(process.env.BENCH_BALANCER_JOBS ?? 2);
const ECHO_CALLS = Number(process.env.BENCH_ECHO_CALLS ?? 2000);
const job = request({ model: 'smoke', width: 512, height: 512, steps: STEPS });
const generate = (c: Connection) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, job, 600_000);

async function jobsPerSecond(c: Connection, jobs: number): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: jobs }, () => generate(c)));
  return jobs / ((performance.now() - started) / 1000);
}

async function echoLatencies(c: Connection, calls: number): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await echo(c);
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await echo(c);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(calls * 0.5)]!, p99: times[Math.floor(calls * 0.99)]! };
}

const homes = [tempHome(), tempHome(), tempHome()];
const agents = [await freePort(), await freePort(), await freePort()];
const serves: ServeProcess[] = await Promise.all(homes.map((h, i) => spawnServe(['--no-tls', '--device', 'cpu', '--no-metrics', '--no-bonjour', '--agent-port', String(agents[i])], h.env)));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-bench-balancer-'));
const listen = await freePort();
const config = balancerConfig({ listen: `127.0.0.1:${listen}`, backend: serves.map((s, i) => `127.0.0.1:${s.port},agent=${agents[i]}`), workers: 1, tls: false }, undefined);
const haproxy = startHaproxy(dir, config.text);
const direct = connect({ address: `127.0.0.1:${serves[0]!.port}`, tls: false });
const balanced = connect({ address: `127.0.0.1:${listen}`, tls: false });
try {
  await waitForBalancer(balanced, haproxy);
  // Warm every server's model cache.
  const each = serves.map((s) => connect({ address: `127.0.0.1:${s.port}`, tls: false }));
  await Promise.all(each.map(generate));
  for (const c of each) c.close();
  const echoDirect = await echoLatencies(direct, ECHO_CALLS);
  const echoBalanced = await echoLatencies(balanced, ECHO_CALLS);
  const one = await jobsPerSecond(direct, JOBS);
  const fleet = await jobsPerSecond(balanced, 3 * JOBS);
  console.log(`cores: ${os.availableParallelism()}; smoke 512×512 × ${STEPS} steps, ${JOBS} jobs per server`);
  console.log(`one server: ${one.toFixed(3)} jobs/s; three behind HAProxy: ${fleet.toFixed(3)} jobs/s; fleet ÷ (3 × one) = ${(fleet / (3 * one)).toFixed(2)} (target ≥ 0.9 where each server has its own device)`);
  console.log(`Echo straight: p50 ${echoDirect.p50.toFixed(3)} ms, p99 ${echoDirect.p99.toFixed(3)} ms; through HAProxy: p50 ${echoBalanced.p50.toFixed(3)} ms, p99 ${echoBalanced.p99.toFixed(3)} ms; added p50 ${(echoBalanced.p50 - echoDirect.p50).toFixed(3)} ms, p99 ${(echoBalanced.p99 - echoDirect.p99).toFixed(3)} ms`);
} finally {
  direct.close();
  balanced.close();
  await haproxy.stop();
  for (const s of serves) {
    s.child.kill('SIGTERM');
    await s.exited;
  }
  for (const h of homes) h.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
}
