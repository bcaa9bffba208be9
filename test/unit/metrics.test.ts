import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import os from 'node:os';
import { after, describe, it } from 'node:test';

import { createLogger } from '../../src/log/logger.js';
import { agentAddress, createMetrics, globalTags, sanitizeTagValue, tag, type Metrics } from '../../src/metrics/index.js';
import { datagramBytes } from '../../src/metrics/statsd.js';
import { UDS_REMEDY, unixDgramProblem } from '../../src/metrics/uds.js';
import { PACKAGE_VERSION } from '../../src/util/package-root.js';

/** One DogStatsD line: a metric (`name:value|type|#tags`) or a service check (`_sc|name|status|#tags`). */
interface Line {
  raw: string;
  name: string;
  /** The first value; `values` has them all (DogStatsD 1.1 packs several as `name:1:2:3|d`). */
  value: number;
  values: number[];
  type: string;
  tags: string[];
}

function parseLine(raw: string): Line {
  const fields = raw.split('|');
  const tags = (fields.find((f) => f.startsWith('#')) ?? '#').slice(1).split(',').filter(Boolean);
  if (fields[0] === '_sc') return { raw, name: fields[1]!, value: Number(fields[2]), values: [Number(fields[2])], type: 'sc', tags };
  const [name, ...values] = fields[0]!.split(':');
  return { raw, name: name!, value: Number(values[0]), values: values.map(Number), type: fields[1]!, tags };
}

/** A real UDP socket standing in for the Datadog agent. */
async function startAgent() {
  const socket = dgram.createSocket('udp4');
  const datagrams: string[] = [];
  const lines: Line[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (message) => {
    const text = message.toString('utf8');
    datagrams.push(text);
    for (const raw of text.split('\n')) if (raw) lines.push(parseLine(raw));
    wake?.();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  return {
    port,
    datagrams,
    lines,
    /** Resolves once predicate holds over what has arrived (the test's timeout bounds the wait). */
    async until(predicate: (lines: Line[]) => boolean): Promise<void> {
      while (!predicate(lines)) await new Promise<void>((resolve) => (wake = resolve));
    },
    find(name: string, ...tags: string[]): Line[] {
      return lines.filter((l) => l.name === name && tags.every((t) => l.tags.includes(t)));
    },
    /** A datagram sent from elsewhere after everything else: once it is here, what came before is here too. */
    async sentinel(): Promise<void> {
      const sender = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => sender.send('sentinel:1|c', port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
      sender.close();
      await this.until((ls) => ls.some((l) => l.name === 'sentinel'));
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function capture() {
  const entries: { level: string; msg: string; [key: string]: unknown }[] = [];
  const logger = createLogger({ level: 'debug', write: (line) => entries.push(JSON.parse(line)) });
  return { entries, logger };
}

function udpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length;
}

const toClose: { close(): Promise<void> }[] = [];
after(async () => {
  for (const item of toClose.reverse()) await item.close();
});

describe('DogStatsD over UDP (DD_DOGSTATSD_URL)', () => {
  it('sends every metric with its type, value and tags, plus the service check and memory gauges', async () => {
    const agent = await startAgent();
    toClose.push(agent);
    const { entries, logger } = capture();
    const env = {
      DD_DOGSTATSD_URL: `udp://127.0.0.1:${agent.port}`,
      DD_AGENT_HOST: '10.255.255.1', // the URL wins
      DD_SERVICE: 'dts util',
      DD_ENV: 'staging',
      DD_VERSION: '9.9.9',
      DD_API_KEY: 'sekrit-api-key',
      DTS_UTIL_SHARED_SECRET: 'sekrit-shared',
    };
    const metrics = createMetrics({ enabled: true, env, logger, device: 'cuda:0', serviceCheckIntervalMs: 50 });
    toClose.push(metrics);

    metrics.call('/drawthings.ImageGenerationService/GenerateImage', 'OK', 12.5);
    metrics.upload(4096, true);
    metrics.upload(100, false);
    metrics.generation('sd 1.5 (fp16)', { images: 2, steps: 20, timingsMs: { text_encode: 5, sampling: 2000, decode: 30, png: 7 } });
    metrics.queue(3, 250);
    metrics.modelLoaded('sd 1.5 (fp16)', 1234);

    // Calls go out on the flush timer (every 500 ms), the rest as they happen.
    await agent.until((ls) => ls.some((l) => l.name === 'dts.model.load_time') && ls.some((l) => l.name === 'dts.grpc.request.duration') && ls.filter((l) => l.name === 'dts.can_connect').length >= 2);

    const common = ['service:dts_util', 'env:staging', 'version:9.9.9', tag('host', os.hostname()), 'device:cuda:0'];
    const one = (name: string, type: string, value: number, ...tags: string[]) => {
      const found = agent.find(name, ...tags);
      assert.equal(found.length, 1, `${name} ${tags.join(',')}: ${JSON.stringify(agent.lines.map((l) => l.raw))}`);
      assert.equal(found[0]!.type, type, name);
      assert.equal(found[0]!.value, value, name);
      for (const t of common) assert.ok(found[0]!.tags.includes(t), `${name} lacks ${t}: ${found[0]!.raw}`);
    };
    const method = 'method:/drawthings.ImageGenerationService/GenerateImage';
    one('dts.grpc.requests', 'c', 1, method, 'code:OK');
    one('dts.grpc.request.duration', 'd', 12.5, method, 'code:OK');
    one('dts.upload.bytes', 'c', 4096, 'result:ok');
    one('dts.upload.bytes', 'c', 100, 'result:failed');
    one('dts.upload.count', 'c', 1, 'result:ok');
    one('dts.upload.count', 'c', 1, 'result:failed');
    one('dts.upload.failures', 'c', 1, 'result:failed');
    assert.equal(agent.find('dts.upload.failures').length, 1);
    const model = 'model:sd_1.5__fp16_';
    one('dts.images.generated', 'c', 2, model);
    one('dts.sampling.steps_per_second', 'd', 10, model);
    one('dts.stage.duration', 'd', 5, model, 'stage:text_encode');
    one('dts.stage.duration', 'd', 2000, model, 'stage:sampling');
    one('dts.stage.duration', 'd', 30, model, 'stage:decode');
    one('dts.stage.duration', 'd', 7, model, 'stage:png');
    one('dts.queue.depth', 'g', 3);
    one('dts.queue.wait', 'd', 250);
    one('dts.model.load_time', 'd', 1234, model);

    const checks = agent.find('dts.can_connect');
    for (const check of checks) {
      assert.equal(check.type, 'sc');
      assert.equal(check.value, 0, 'OK');
      for (const t of common) assert.ok(check.tags.includes(t), `service check lacks ${t}: ${check.raw}`);
    }
    for (const name of ['dts.process.memory.rss', 'dts.process.memory.heap_used']) {
      const gauges = agent.find(name);
      assert.ok(gauges.length >= 1, name);
      assert.equal(gauges[0]!.type, 'g');
      assert.ok(gauges[0]!.value > 0, name);
      for (const t of common) assert.ok(gauges[0]!.tags.includes(t), `${name} lacks ${t}`);
    }
    // Calls batch: several lines share a datagram, and none is over the agent's 8 KiB buffer.
    assert.ok(agent.datagrams.some((d) => d.split('\n').filter(Boolean).length > 1));
    assert.ok(agent.datagrams.every((d) => Buffer.byteLength(d) <= 8192));
    // No secret from env in any packet, and nothing logged above debug.
    assert.ok(agent.datagrams.every((d) => !d.includes('sekrit')));
    assert.deepEqual(entries.filter((e) => e.level !== 'debug'), []);
  });

  it('fills datagrams up to the 8 KiB agent buffer on loopback, one MTU for a remote agent', async () => {
    assert.equal(datagramBytes({ protocol: 'udp', host: '127.0.0.1', port: 8125 }), 8192);
    assert.equal(datagramBytes({ protocol: 'udp', host: 'localhost', port: 8125 }), 8192);
    assert.equal(datagramBytes({ protocol: 'udp', host: '::1', port: 8125 }), 8192);
    assert.equal(datagramBytes({ protocol: 'uds', path: '/var/run/datadog/dsd.socket' }), 8192);
    assert.equal(datagramBytes({ protocol: 'udp', host: '10.0.0.7', port: 8125 }), 1432);
    assert.equal(datagramBytes({ protocol: 'udp', host: 'datadog-agent.monitoring', port: 8125 }), 1432);

    const agent = await startAgent();
    toClose.push(agent);
    const metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${agent.port}` }, logger: capture().logger, serviceCheckIntervalMs: 60_000 });
    const sent = Array.from({ length: 3000 }, (_, i) => i / 8);
    for (const ms of sent) metrics.call('/drawthings.ImageGenerationService/Echo', 'OK', ms);
    await metrics.close();
    const received = () => agent.find('dts.grpc.request.duration').flatMap((l) => l.values);
    await agent.until(() => received().length === sent.length);
    // One count for all the calls, and every duration, packed into lines that each fill most of a datagram.
    assert.deepEqual(agent.find('dts.grpc.requests').map((l) => l.value), [3000]);
    assert.deepEqual(received(), sent);
    assert.ok(agent.find('dts.grpc.request.duration').length > 1, 'the durations did not fit one datagram');
    assert.ok(agent.datagrams.some((d) => Buffer.byteLength(d) > 1432), 'some datagram is over one MTU');
    assert.ok(agent.datagrams.every((d) => Buffer.byteLength(d) <= 8192));
  });

  it('sends the calls of each flush interval as one count and packed durations per method and code', async () => {
    const agent = await startAgent();
    toClose.push(agent);
    const metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${agent.port}` }, logger: capture().logger, serviceCheckIntervalMs: 60_000 });
    toClose.push(metrics);
    const echo = 'method:/drawthings.ImageGenerationService/Echo';
    metrics.call('/drawthings.ImageGenerationService/Echo', 'OK', 1.25);
    metrics.call('/drawthings.ImageGenerationService/Echo', 'OK', 0.0004);
    metrics.call('/drawthings.ImageGenerationService/Echo', 'UNAUTHENTICATED', 0.5);
    // Sent without close(): the flush timer alone delivers them.
    await agent.until(() => agent.find('dts.grpc.request.duration').length === 2 && agent.find('dts.grpc.requests').length === 2);
    const requests = (code: string) => agent.find('dts.grpc.requests', echo, `code:${code}`);
    assert.deepEqual(requests('OK').map((l) => [l.value, l.type]), [[2, 'c']]);
    assert.deepEqual(requests('UNAUTHENTICATED').map((l) => [l.value, l.type]), [[1, 'c']]);
    const [ok] = agent.find('dts.grpc.request.duration', echo, 'code:OK');
    assert.equal(ok!.type, 'd');
    assert.deepEqual(ok!.values, [1.25, 0], 'microsecond precision');
    assert.ok(ok!.raw.startsWith('dts.grpc.request.duration:1.25:0|d|#'), ok!.raw);
  });

  it('stops the service check on close(), flushing what was buffered', async () => {
    const agent = await startAgent();
    toClose.push(agent);
    const metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${agent.port}` }, logger: capture().logger, serviceCheckIntervalMs: 20 });
    metrics.queue(1);
    await metrics.close();
    await metrics.close(); // idempotent
    await agent.sentinel();
    assert.equal(agent.find('dts.queue.depth').length, 1, 'close() flushed the buffer');
    const checks = agent.find('dts.can_connect').length;
    metrics.queue(2); // after close: dropped, no throw
    await new Promise((resolve) => setTimeout(resolve, 100));
    await agent.sentinel();
    assert.equal(agent.find('dts.can_connect').length, checks, 'no service check after close');
    assert.equal(agent.find('dts.queue.depth').length, 1);
  });
});

describe('DogStatsD over UDP (DD_AGENT_HOST / DD_DOGSTATSD_PORT)', () => {
  it('uses host and port, and defaults service and version, with no env: tag', async () => {
    const agent = await startAgent();
    toClose.push(agent);
    const metrics = createMetrics({ enabled: true, env: { DD_AGENT_HOST: '127.0.0.1', DD_DOGSTATSD_PORT: String(agent.port) }, logger: capture().logger });
    toClose.push(metrics);
    metrics.call('/grpc.health.v1.Health/Check', 'NOT_FOUND', 1);
    await agent.until((ls) => ls.some((l) => l.name === 'dts.grpc.requests'));
    const [line] = agent.find('dts.grpc.requests', 'method:/grpc.health.v1.Health/Check', 'code:NOT_FOUND');
    assert.ok(line, JSON.stringify(agent.lines));
    assert.ok(line.tags.includes('service:dts-util'));
    assert.ok(line.tags.includes(tag('version', PACKAGE_VERSION)));
    assert.ok(!line.tags.some((t) => t.startsWith('env:') || t.startsWith('device:')), line.raw);
  });
});

describe('disabled and unusable', () => {
  it('disabled: no socket, no timer, no datagram', async () => {
    const agent = await startAgent();
    toClose.push(agent);
    const sockets = udpSockets();
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const metrics = createMetrics({ enabled: false, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${agent.port}` }, logger: capture().logger, serviceCheckIntervalMs: 10 });
    assert.equal(udpSockets(), sockets);
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timers);
    metrics.call('/x/Y', 'OK', 1);
    metrics.upload(1, true);
    metrics.generation('m', { images: 1, steps: 1, timingsMs: { sampling: 1 } });
    metrics.queue(1, 1);
    metrics.modelLoaded('m', 1);
    await metrics.close();
    await agent.sentinel();
    assert.deepEqual(agent.datagrams, ['sentinel:1|c']);
  });

  for (const env of [{ DD_DOGSTATSD_URL: 'ftp://agent:8125' }, { DD_DOGSTATSD_URL: 'udp://127.0.0.1:99999' }, { DD_DOGSTATSD_PORT: 'eighty' }]) {
    it(`an unusable address (${JSON.stringify(env)}) → one warning and a no-op`, async () => {
      const { entries, logger } = capture();
      const sockets = udpSockets();
      const metrics = createMetrics({ enabled: true, env, logger });
      metrics.call('/x/Y', 'OK', 1);
      metrics.call('/x/Y', 'OK', 1);
      assert.equal(udpSockets(), sockets);
      await metrics.close();
      const warnings = entries.filter((e) => e.level === 'warn');
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0]!.problem), /DD_DOGSTATSD_(URL|PORT)/);
    });
  }

  it('an agent that is not listening: calls succeed, nothing throws, nothing logged above debug', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { entries, logger } = capture();
    const metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${port}` }, logger, serviceCheckIntervalMs: 10 });
    for (let i = 0; i < 200; i++) {
      metrics.call('/x/Y', 'OK', i);
      metrics.generation('m', { images: 1, steps: 4, timingsMs: { sampling: 10, decode: 1 } });
    }
    await new Promise((resolve) => setTimeout(resolve, 600)); // a buffer flush or two
    await metrics.close();
    assert.deepEqual(entries.filter((e) => e.level !== 'debug'), []);
    assert.ok(entries.filter((e) => e.level === 'debug').length <= 1, 'send errors are logged once at most');
  });
});

describe('unix sockets', () => {
  it('without a loadable unix-dgram: one warning naming reason and remedy, then a no-op (never a crash)', async () => {
    const problem = unixDgramProblem();
    const { entries, logger } = capture();
    const sockets = udpSockets();
    let metrics: Metrics | undefined;
    assert.doesNotThrow(() => {
      metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: 'unix:///tmp/dts-util-metrics-test-missing.sock' }, logger });
    });
    metrics!.call('/x/Y', 'OK', 1);
    metrics!.queue(1);
    await metrics!.close();
    assert.equal(udpSockets(), sockets);
    const warnings = entries.filter((e) => e.level === 'warn');
    if (problem) {
      // This machine's case: unix-dgram is built for another Node ABI.
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]!.problem, problem);
      assert.match(String(warnings[0]!.problem), /unix-dgram/);
      assert.match(String(warnings[0]!.remedy), /udp:\/\/127\.0\.0\.1:8125/);
      assert.match(String(warnings[0]!.remedy), /rebuild unix-dgram/);
    } else {
      // unix-dgram loads: hot-shots owns the socket; at most one warning if it still cannot start.
      assert.ok(warnings.length <= 1);
    }
  });

  it('unixDgramProblem names the load error and the remedy is actionable', () => {
    const problem = unixDgramProblem(() => {
      throw new Error("The module 'unix_dgram.node'\nwas compiled against a different Node.js version using NODE_MODULE_VERSION 115.");
    });
    assert.equal(problem, "unix-dgram cannot be loaded: The module 'unix_dgram.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115.");
    assert.equal(unixDgramProblem(() => ({})), undefined);
    assert.match(UDS_REMEDY, /DD_DOGSTATSD_URL=udp:\/\/127\.0\.0\.1:8125/);
  });
});

describe('tags and addresses', () => {
  it('sanitizes tag values per Datadog rules and caps a tag at 200 characters', () => {
    assert.equal(sanitizeTagValue('sd 1.5 (fp16)/v2:a-b_c'), 'sd_1.5__fp16_/v2:a-b_c');
    assert.equal(sanitizeTagValue('MixedCase'), 'MixedCase');
    assert.equal(sanitizeTagValue('ünï,code|#'), '_n__code__');
    assert.equal(tag('model', 'x'.repeat(500)).length, 200);
  });

  it('builds unified service tags from DD_SERVICE/DD_ENV/DD_VERSION only: no DD_API_KEY, no DTS_UTIL_SHARED_SECRET', () => {
    const env = { DD_API_KEY: 'sekrit-api-key', DTS_UTIL_SHARED_SECRET: 'sekrit-shared', DD_TAGS: 'leak:sekrit-tags', DD_ENV: 'prod' };
    const tags = globalTags({ env, device: 'cpu', hostname: 'box-1' });
    assert.deepEqual(tags, ['service:dts-util', 'env:prod', tag('version', PACKAGE_VERSION), 'host:box-1', 'device:cpu']);
    assert.ok(tags.every((t) => !t.includes('sekrit')));
    assert.deepEqual(globalTags({ env: { DD_ENV: '  ' }, hostname: 'h' }), ['service:dts-util', tag('version', PACKAGE_VERSION), 'host:h']);
  });

  it('resolves the agent address: the URL wins, then host/port, then defaults', () => {
    assert.deepEqual(agentAddress({}), { ok: true, address: { protocol: 'udp', host: '127.0.0.1', port: 8125 } });
    assert.deepEqual(agentAddress({ DD_AGENT_HOST: 'agent', DD_DOGSTATSD_PORT: '9125' }), { ok: true, address: { protocol: 'udp', host: 'agent', port: 9125 } });
    assert.deepEqual(agentAddress({ DD_DOGSTATSD_URL: 'udp://[::1]:8126', DD_AGENT_HOST: 'agent' }), { ok: true, address: { protocol: 'udp', host: '::1', port: 8126 } });
    assert.deepEqual(agentAddress({ DD_DOGSTATSD_URL: 'udp://dd-agent' }), { ok: true, address: { protocol: 'udp', host: 'dd-agent', port: 8125 } });
    assert.deepEqual(agentAddress({ DD_DOGSTATSD_URL: 'unix:///var/run/datadog/dsd.socket' }), { ok: true, address: { protocol: 'uds', path: '/var/run/datadog/dsd.socket' } });
    assert.equal(agentAddress({ DD_DOGSTATSD_URL: 'not a url' }).ok, false);
    assert.equal(agentAddress({ DD_DOGSTATSD_URL: 'unix://' }).ok, false);
    assert.equal(agentAddress({ DD_DOGSTATSD_PORT: '0' }).ok, false);
  });
});
