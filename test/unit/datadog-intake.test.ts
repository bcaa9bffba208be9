import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { gunzipSync } from 'node:zlib';

import { createLogger } from '../../src/log/logger.js';
import { DatadogLogShipper, datadogStatus, intakeOptionsFromEnv, type IntakeOptions } from '../../src/log/datadog-intake.js';

const API_KEY = 'dd-test-key-4f1c9a7e0b2d';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A local intake: `answer(n)` gives the status for the n-th request (0-based). */
async function intake(answer: (n: number, req: Received) => number = () => 202) {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const status = answer(requests.length, received);
      requests.push(received);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 403 ? '{"errors":[{"status":"403","title":"Forbidden","detail":"Forbidden"}]}' : '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  after(close);
  return { requests, url: `http://127.0.0.1:${port}/api/v2/logs`, eventsUrl: `http://127.0.0.1:${port}/api/v1/events`, close };
}

const logEntries = (r: Received) => JSON.parse(gunzipSync(r.body).toString('utf8')) as Record<string, unknown>[];

function options(url: string, extra: Partial<IntakeOptions> = {}): IntakeOptions {
  return { apiKey: API_KEY, url, service: 'dts-util', env: 'test', version: '1.2.3', hostname: 'host-a', backoffMs: 5, events: false, ...extra };
}

function assertNoKey(shipper: DatadogLogShipper) {
  const text = JSON.stringify(shipper.stats()) + inspect(shipper, { depth: 5, showHidden: true }) + String(shipper.stats().lastError);
  assert.ok(!text.includes(API_KEY), `API key leaked: ${text}`);
}

describe('DatadogLogShipper', () => {
  it('maps logger levels to Datadog statuses', () => {
    assert.equal(datadogStatus('debug'), 'debug');
    assert.equal(datadogStatus('info'), 'info');
    assert.equal(datadogStatus('warn'), 'warning');
    assert.equal(datadogStatus('error'), 'error');
    assert.equal(datadogStatus(undefined), 'info');
  });

  it('sends logger lines in gzip batches with the key header and Datadog fields', async () => {
    const server = await intake();
    const shipper = new DatadogLogShipper(options(server.url, { maxBatchLines: 4 }));
    const logger = createLogger({ level: 'debug', write: (line) => shipper.push(line) });
    logger.debug('d');
    logger.info('i', { port: 1 });
    logger.warn('w');
    logger.error('e');
    for (let i = 0; i < 6; i++) logger.info(`more ${i}`);
    shipper.push('not json at all');
    await shipper.flush();

    assert.ok(server.requests.length >= 3, `batches of ≤4: ${server.requests.length}`);
    const entries = server.requests.flatMap(logEntries);
    assert.equal(entries.length, 11);
    for (const r of server.requests) {
      assert.equal(r.path, '/api/v2/logs');
      assert.equal(r.headers['dd-api-key'], API_KEY);
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.match(String(r.headers['content-type']), /^application\/json/);
      assert.ok(logEntries(r).length <= 4);
    }
    assert.deepEqual(entries.map((e) => e.status).slice(0, 4), ['debug', 'info', 'warning', 'error']);
    const first = entries[1]!;
    assert.equal(first.ddsource, 'dts-util');
    assert.equal(first.service, 'dts-util');
    assert.equal(first.hostname, 'host-a');
    assert.equal(first.ddtags, 'env:test,version:1.2.3');
    const original = JSON.parse(String(first.message));
    assert.equal(original.msg, 'i');
    assert.equal(original.port, 1);
    assert.ok(!String(first.message).endsWith('\n'));
    assert.equal(entries[10]!.message, 'not json at all');
    assert.equal(entries[10]!.status, 'info');

    const stats = shipper.stats();
    assert.equal(stats.sentLines, 11);
    assert.equal(stats.droppedLines, 0);
    assert.equal(stats.failedBatches, 0);
    assert.equal(stats.lastStatus, 202);
    assert.ok(stats.lastAcceptedAt && !Number.isNaN(Date.parse(stats.lastAcceptedAt)));
    assertNoKey(shipper);
    await shipper.close(1000);
  });

  it('flushes on its (unref) timer without an explicit flush', async () => {
    const server = await intake();
    const shipper = new DatadogLogShipper(options(server.url, { flushIntervalMs: 20 }));
    shipper.push('{"level":"info","msg":"tick"}\n');
    while (shipper.stats().sentLines < 1) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.requests.length, 1);
    await shipper.close(1000);
  });

  it('retries 500s with backoff and delivers the batch on the third try', async () => {
    const server = await intake((n) => (n < 2 ? 500 : 202));
    const shipper = new DatadogLogShipper(options(server.url, { retries: 3 }));
    for (let i = 0; i < 5; i++) shipper.push(JSON.stringify({ level: 'info', msg: `line ${i}` }));
    await shipper.flush();
    assert.equal(server.requests.length, 3);
    const bodies = server.requests.map(logEntries);
    assert.deepEqual(bodies[0], bodies[2]);
    assert.deepEqual(bodies[1], bodies[2]);
    assert.equal(logEntries(server.requests[2]!).length, 5);
    const stats = shipper.stats();
    assert.equal(stats.sentLines, 5);
    assert.equal(stats.droppedLines, 0);
    assert.equal(stats.failedBatches, 0);
    assert.equal(stats.retriedRequests, 2);
    assert.equal(stats.lastStatus, 202);
    await shipper.close(1000);
  });

  it('counts a batch as failed after the retries run out (429)', async () => {
    const server = await intake(() => 429);
    const shipper = new DatadogLogShipper(options(server.url, { retries: 2 }));
    shipper.push('{"level":"warn","msg":"x"}');
    await shipper.flush();
    assert.equal(server.requests.length, 3);
    const stats = shipper.stats();
    assert.equal(stats.failedBatches, 1);
    assert.equal(stats.droppedLines, 1);
    assert.equal(stats.sentLines, 0);
    assert.equal(stats.lastStatus, 429);
    assert.match(stats.lastError ?? '', /429/);
    await shipper.close(1000);
  });

  it('does not retry a 403 and never reports the key', async () => {
    const server = await intake(() => 403);
    const shipper = new DatadogLogShipper(options(server.url, { retries: 3 }));
    shipper.push('{"level":"error","msg":"boom"}');
    shipper.push('{"level":"info","msg":"fine"}');
    await shipper.flush();
    assert.equal(server.requests.length, 1);
    const stats = shipper.stats();
    assert.equal(stats.lastStatus, 403);
    assert.match(stats.lastError ?? '', /403/);
    assert.ok(!(stats.lastError ?? '').toLowerCase().includes('dd-api-key'));
    assert.equal(stats.failedBatches, 1);
    assert.equal(stats.droppedLines, 2);
    assert.equal(stats.retriedRequests, 0);
    assertNoKey(shipper);
    await shipper.close(1000);
  });

  it('stays bounded and non-throwing when the intake is unreachable; close respects its bound', async () => {
    const server = await intake();
    const url = server.url;
    await server.close(); // a closed port: connections are refused
    const maxQueuedLines = 1000;
    const shipper = new DatadogLogShipper(options(url, { maxQueuedLines, maxBatchLines: 100, retries: 5, backoffMs: 200, flushIntervalMs: 10 }));
    const total = 50_000;
    let maxQueued = 0;
    for (let i = 0; i < total; i++) {
      const ret: unknown = shipper.push(`{"time":"t","level":"${i % 7 === 0 ? 'error' : 'info'}","msg":"line ${i}"}\n`);
      assert.equal(ret, undefined);
      maxQueued = Math.max(maxQueued, shipper.stats().queuedLines);
    }
    assert.ok(maxQueued <= maxQueuedLines, `queue grew to ${maxQueued}`);
    assert.ok(shipper.stats().droppedLines > 0);
    await new Promise((r) => setTimeout(r, 50)); // let some requests fail and back off
    shipper.push('{"level":"info","msg":"still fine"}');
    assert.ok(shipper.stats().queuedLines <= maxQueuedLines);

    // close(200) must give up on the retry loop; the guard only catches a hang
    let guard: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      shipper.close(200).then(() => 'closed'),
      new Promise((r) => (guard = setTimeout(() => r('hung'), 30_000))),
    ]);
    clearTimeout(guard);
    assert.equal(outcome, 'closed');
    const stats = shipper.stats();
    assert.equal(stats.sentLines, 0);
    assert.equal(stats.queuedLines, 0);
    assert.equal(stats.sentLines + stats.droppedLines, total + 1, 'every line is either sent or counted as dropped');
    assert.match(stats.lastError ?? '', /ECONNREFUSED|fetch failed/);
    assertNoKey(shipper);
    shipper.push('after close');
    assert.equal(shipper.stats().droppedLines, total + 2);
  });

  it('close aborts a request the intake never answers', async () => {
    const stalled = createServer(() => undefined); // accepts, never responds
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => {
      stalled.closeAllConnections();
      stalled.close(() => resolve());
    }));
    const { port } = stalled.address() as AddressInfo;
    const shipper = new DatadogLogShipper(options(`http://127.0.0.1:${port}/`, { timeoutMs: 60_000 }));
    shipper.push('{"level":"info","msg":"a"}');
    void shipper.flush();
    let guard: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      shipper.close(100).then(() => 'closed'),
      new Promise((r) => (guard = setTimeout(() => r('hung'), 30_000))),
    ]);
    clearTimeout(guard);
    assert.equal(outcome, 'closed');
    assert.equal(shipper.stats().droppedLines, 1);
    assert.equal(shipper.stats().failedBatches, 1);
  });

  it('posts error lines as rate-limited Datadog events', async () => {
    const server = await intake();
    const shipper = new DatadogLogShipper(options(server.url, { events: undefined, eventsUrl: server.eventsUrl, eventIntervalMs: 60_000 }));
    shipper.push('{"level":"info","msg":"not an event"}');
    shipper.push('{"level":"error","msg":"first failure"}');
    shipper.push('{"level":"error","msg":"second failure"}');
    await shipper.flush();
    while (shipper.stats().sentEvents + shipper.stats().droppedEvents < 2) await new Promise((r) => setTimeout(r, 10));
    const events = server.requests.filter((r) => r.path === '/api/v1/events');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.headers['dd-api-key'], API_KEY);
    const event = JSON.parse(events[0]!.body.toString('utf8'));
    assert.equal(event.title, 'dts-util error');
    assert.equal(event.text, 'first failure');
    assert.equal(event.alert_type, 'error');
    assert.ok(event.tags.includes('env:test') && event.tags.includes('version:1.2.3'));
    assert.equal(shipper.stats().sentEvents, 1);
    assert.equal(shipper.stats().droppedEvents, 1);
    assert.equal(shipper.stats().sentLines, 3);
    await shipper.close(1000);
  });

  it('sends no events when only the log URL is overridden', async () => {
    const server = await intake();
    const shipper = new DatadogLogShipper(options(server.url, { events: undefined }));
    shipper.push('{"level":"error","msg":"x"}');
    await shipper.flush();
    await shipper.close(1000);
    assert.equal(shipper.stats().sentEvents + shipper.stats().droppedEvents, 0);
    assert.deepEqual(server.requests.map((r) => r.path), ['/api/v2/logs']);
  });

  it('reads its options from the environment', () => {
    const base = { service: 's', version: 'v', hostname: 'h' };
    assert.equal(intakeOptionsFromEnv({}, base), undefined);
    assert.deepEqual(intakeOptionsFromEnv({ DD_API_KEY: 'k', DD_SITE: 'datadoghq.eu', DD_ENV: 'prod', DTS_UTIL_DATADOG_LOGS_URL: 'http://127.0.0.1:1/x' }, base), {
      apiKey: 'k', site: 'datadoghq.eu', env: 'prod', url: 'http://127.0.0.1:1/x', ...base,
    });
  });
});
