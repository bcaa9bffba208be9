/*
 * A fleet behind real HAProxy (Debian's) on loopback: three real `dts-util serve` processes with
 * agent checks, the configuration `balancer haproxy` writes, real gRPC clients through it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { checkHealth, connect, unaryCall, type Connection } from '../../src/client/client.js';
import { balancerConfig } from '../../src/balancer/balancer.js';
import { agentReply } from '../../src/server/agent-check.js';
import type { ImageGenerationProgress, ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { echo } from '../helpers/calls.js';
import { runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { startHaproxy, waitForBalancer, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort } from '../helpers/ports.js';
import { request } from '../helpers/requests.js';
import { privateCaCertificate } from '../helpers/supplied-certificates.js';
import { tempHome } from '../helpers/temp-home.js';
import { waitUntil } from '../helpers/wait.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Slow enough that three overlap on two vCPUs, short enough for the file to stay near a minute. */
const SLOW = request({ model: 'smoke', width: 512, height: 512, steps: Number(process.env.BALANCER_TEST_STEPS ?? 6) });
const generate = (c: Connection, r: ImageGenerationRequest = SLOW) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, r, 120_000);

/** A GenerateImageStream through the balancer: resolves `sampling` at its first step and `done` at its end. */
function streamGeneration(c: Connection) {
  const call = c.service.generateImageStream(SLOW);
  let finished = false;
  const sampling = new Promise<void>((resolve) => call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && resolve()));
  const done = new Promise<void>((resolve, reject) => {
    call.on('error', reject);
    call.on('end', () => {
      finished = true;
      resolve();
    });
  });
  return { sampling, done, finished: () => finished };
}

/** How many generations a server answered (its access log's call lines). */
const generations = (serve: ServeProcess) => serve.lines.filter((l) => l.msg === 'call' && /GenerateImage(Stream)?$/.test(String(l.method)) && l.code === 'OK').length;

describe('a fleet of three dts-util servers behind HAProxy, plaintext', () => {
  const homes: ReturnType<typeof tempHome>[] = [];
  const serves: ServeProcess[] = [];
  let haproxy: RunningHaproxy;
  let c: Connection;
  let dir: string;
  const total = () => serves.map(generations).reduce((a, b) => a + b, 0);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-balancer-'));
    const agents = [await freePort(), await freePort(), await freePort()];
    await Promise.all(
      agents.map(async (agent, i) => {
        const home = tempHome();
        homes.push(home);
        serves[i] = await spawnServe(['--no-tls', '--device', 'cpu', '--no-metrics', '--no-bonjour', '--agent-port', String(agent), '--grace-period', '60'], home.env);
      }),
    );
    const listen = await freePort();
    const config = balancerConfig({ listen: `127.0.0.1:${listen}`, backend: serves.map((s, i) => `127.0.0.1:${s.port},agent=${agents[i]}`), workers: 1, tls: false }, undefined);
    fs.writeFileSync(path.join(dir, 'checked.cfg'), config.text);
    execFileSync('haproxy', ['-c', '-q', '-f', path.join(dir, 'checked.cfg')]);
    haproxy = startHaproxy(dir, config.text);
    c = connect({ address: `127.0.0.1:${listen}`, tls: false });
    await waitForBalancer(c, haproxy);
  });
  after(async () => {
    c?.close();
    await haproxy?.stop();
    for (const serve of serves) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    for (const home of homes) home.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('spreads concurrent generations one per server, and Echo answers while all three generate', async () => {
    const streams = [streamGeneration(c), streamGeneration(c), streamGeneration(c)];
    await Promise.all(streams.map((s) => s.sampling));
    for (let i = 0; i < 10; i++) assert.ok((await echo(c)).message.length > 0);
    assert.equal((await checkHealth(c, '', 5000)), 'SERVING');
    assert.ok(streams.every((s) => !s.finished()), 'Echo and health answered before any generation ended');
    await Promise.all(streams.map((s) => s.done));
    // A server logs the call as it ends: its line may come a moment after the client's answer.
    await waitUntil(() => total() === 3);
    assert.deepEqual(serves.map(generations), [1, 1, 1], 'each server ran one');
  });

  it('a server stopped with SIGTERM finishes its running generation and gets no new one', async () => {
    const before = serves.map(generations);
    const streams = [streamGeneration(c), streamGeneration(c), streamGeneration(c)];
    await Promise.all(streams.map((s) => s.sampling));
    // A fourth waits in HAProxy's queue for the first free server.
    const queued = generate(c);
    serves[0]!.child.kill('SIGTERM');
    await Promise.all(streams.map((s) => s.done));
    assert.equal(await serves[0]!.exited, 0);
    assert.equal((await queued).images.length, 1);
    await waitUntil(() => total() === 7);
    const after = serves.map(generations);
    assert.equal(after[0]! - before[0]!, 1, 'the draining server ran only the generation it had');
    assert.equal(after[1]! + after[2]! - before[1]! - before[2]!, 3);
  });

  it('a killed server is routed around: the queued generations and every later call succeed', async () => {
    // s1 is gone (the test before); s2 and s3 take one each, a third waits in the queue.
    const calls = [generate(c), generate(c), generate(c)].map((p) => p.then(() => 'ok', (error: { code?: number }) => error));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    serves[1]!.child.kill('SIGKILL');
    const outcomes = await Promise.all(calls);
    // A unary call's headers go with its answer, so the one that was running on the dead server
    // had an empty response: HAProxy sends it again to a live one, and no call fails.
    assert.deepEqual(outcomes, ['ok', 'ok', 'ok']);
    assert.equal((await generate(c, request({ model: 'smoke', steps: 1 }))).images.length, 1);
    for (let i = 0; i < 5; i++) await echo(c);
  });
});

describe('a fleet behind HAProxy with TLS on both sides', () => {
  const servers: TestServer[] = [];
  let haproxy: RunningHaproxy;
  let c: Connection;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-balancer-tls-'));
    servers.push(await startTestServer({ device: 'cpu', metrics: false, bonjour: false, agentPort: 0 }), await startTestServer({ device: 'cpu', metrics: false, bonjour: false, agentPort: 0 }));
    const front = privateCaCertificate(path.join(dir, 'front'), 'localhost');
    const listen = await freePort();
    const out = path.join(dir, 'dts-util.cfg');
    const backends = servers.flatMap((t) => ['--backend', `${t.address},agent=${t.server.agentPort},ca=${path.join(t.settings.paths.tlsDir, 'ca.pem')}`]);
    const cli = await runCli(['balancer', 'haproxy', '--listen', `127.0.0.1:${listen}`, ...backends, '--tls-cert', front.cert, '--tls-key', front.key, '--out', out], {});
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(fs.statSync(out).mode & 0o777, 0o644);
    assert.equal(fs.statSync(`${out}.pem`).mode & 0o777, 0o600);
    execFileSync('haproxy', ['-c', '-q', '-f', out]);
    haproxy = startHaproxy(dir, fs.readFileSync(out, 'utf8'));
    c = connect({ address: `127.0.0.1:${listen}`, tls: true, caPem: fs.readFileSync(front.ca, 'utf8'), serverName: 'localhost' });
    await waitForBalancer(c, haproxy);
  });
  after(async () => {
    c?.close();
    await haproxy?.stop();
    for (const t of servers) await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers Echo, health and a generation through TLS to HAProxy and verified TLS to each server', async () => {
    assert.ok((await echo(c)).message.length > 0);
    assert.equal(await checkHealth(c, '', 5000), 'SERVING');
    const reply = await generate(c, request({ model: 'smoke', steps: 1 }));
    assert.equal(reply.images.length, 1);
  });

  it('each server answers the agent check "up ready"; a shutting-down one would say "drain"', async () => {
    const line = await new Promise<string>((resolve, reject) => {
      let text = '';
      net.connect(servers[0]!.server.agentPort!, '127.0.0.1').on('data', (d) => (text += d)).on('end', () => resolve(text)).on('error', reject);
    });
    assert.equal(line, 'up ready\n');
    assert.equal(agentReply(false), 'drain\n');
  });
});
