import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';

import { runCli, spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { waitUntil } from '../helpers/wait.js';

const API_KEY = 'dd-test-key-0a1b2c3d';
const SECRET = 'serve-secret-77aa';

describe('serve with a Datadog API key ships its logs to the intake (a local stand-in)', () => {
  const home = tempHome();
  const received: { headers: http.IncomingHttpHeaders; entries: { message: string; status: string; service: string }[] }[] = [];
  let intake: http.Server;
  before(async () => {
    intake = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, entries: JSON.parse(zlib.gunzipSync(Buffer.concat(chunks)).toString('utf8')) });
        res.writeHead(202).end('{}');
      });
    });
    await new Promise<void>((resolve) => intake.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    intake.close();
    home.cleanup();
  });

  it('sends the start-up line and the call lines with the key header, and never the key or the secret in a line', async () => {
    const { port } = intake.address() as { port: number };
    const env = { ...home.env, DD_API_KEY: API_KEY, DTS_UTIL_SHARED_SECRET: SECRET, DTS_UTIL_DATADOG_LOGS_URL: `http://127.0.0.1:${port}/api/v2/logs`, DD_ENV: 'ci' };
    const serve = await spawnServe([], env);
    assert.deepEqual((serve.lines[0] as { logs: string[] }).logs, ['stdout', 'datadog logs (custom intake)']);
    await waitUntil(() => received.length > 0, 10_000);
    const test = await runCli(['test', '--json', '--port', String(serve.port)], env);
    assert.equal(test.code, 0, test.stdout);
    const monitoring = JSON.parse(test.stdout).checks.find((c: { name: string }) => c.name === 'monitoring');
    assert.match(monitoring.detail, /Datadog logs: last batch accepted at \d{4}-/);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    await waitUntil(() => received.some((r) => r.entries.some((e) => e.message.includes('"msg":"stopped"'))), 10_000);
    const entries = received.flatMap((r) => r.entries);
    assert.ok(received.every((r) => r.headers['dd-api-key'] === API_KEY && r.headers['content-encoding'] === 'gzip'));
    assert.ok(entries.some((e) => e.message.includes('dts-util server listening')));
    // dts-util test's calls: its ListModels is an info line (successful Echo probes are debug).
    assert.ok(entries.some((e) => e.message.includes('/drawthings.ImageGenerationService/ListModels')));
    assert.ok(entries.every((e) => e.service === 'dts-util'));
    const text = JSON.stringify(entries);
    assert.ok(!text.includes(API_KEY) && !text.includes(SECRET), 'a secret reached the intake');
    assert.ok(!serve.lines.some((l) => JSON.stringify(l).includes(API_KEY) || JSON.stringify(l).includes(SECRET)));
  });
});

describe('a Datadog API key the intake refuses', () => {
  const home = tempHome();
  let intake: http.Server;
  before(async () => {
    intake = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(403).end('{"errors":["Forbidden"]}')));
    await new Promise<void>((resolve) => intake.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    intake.close();
    home.cleanup();
  });

  it('makes dts-util test unhealthy, saying to check the key, without printing it', async () => {
    const { port } = intake.address() as { port: number };
    const env = { ...home.env, DD_API_KEY: API_KEY, DTS_UTIL_DATADOG_LOGS_URL: `http://127.0.0.1:${port}/api/v2/logs` };
    const serve = await spawnServe([], env);
    try {
      let report: { checks: { name: string; ok: boolean; detail: string }[] } = { checks: [] };
      for (let attempt = 0; attempt < 50; attempt++) {
        const test = await runCli(['test', '--json', '--port', String(serve.port)], env);
        report = JSON.parse(test.stdout);
        if (report.checks.some((c) => c.name === 'monitoring' && !c.ok)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const monitoring = report.checks.find((c) => c.name === 'monitoring')!;
      assert.equal(monitoring.ok, false);
      assert.match(monitoring.detail, /Datadog refused the API key \(HTTP 403\)/);
      assert.ok(!JSON.stringify(report).includes(API_KEY));
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  });
});
