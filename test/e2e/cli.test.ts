import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Metadata } from '@grpc/grpc-js';

import { connect } from '../../src/client/client.js';
import { oneLine, runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { waitUntil } from '../helpers/wait.js';
import { sha256 } from '../helpers/calls.js';
import { freePort } from '../helpers/ports.js';

describe('dts-util serve + dts-util test (built binary)', () => {
  const home = tempHome();
  let serve: ServeProcess;
  before(async () => {
    serve = await spawnServe([], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('test --json reports a healthy TLS server and exits 0', async () => {
    const { code, stdout } = await runCli(['test', '--json', '--port', String(serve.port)], home.env);
    const report = JSON.parse(stdout);
    assert.equal(code, 0, stdout);
    assert.equal(report.healthy, true);
    assert.equal(report.tls, true);
    assert.deepEqual(report.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]), [['tls', true], ['echo', true], ['health', true], ['models', true], ['monitoring', true]]);
  });

  it('test prints a readable verdict', async () => {
    const { code, stdout } = await runCli(['test', '--port', String(serve.port)], home.env);
    assert.equal(code, 0);
    assert.match(stdout, /^healthy: 127\.0\.0\.1:\d+ \(TLS\)/);
    assert.match(stdout, /✓ echo: Echo answered HELLO/);
  });

  it('made the CA and keys with private permissions', () => {
    const tls = path.join(home.home, 'tls');
    assert.equal(fs.statSync(tls).mode & 0o777, 0o700);
    for (const key of ['ca-key.pem', 'server-key.pem']) assert.equal(fs.statSync(path.join(tls, key)).mode & 0o777, 0o600, key);
  });

  it('test against a plaintext expectation fails with exit 1 and says why', async () => {
    const { code, stdout } = await runCli(['test', '--json', '--no-tls', '--port', String(serve.port), '--timeout', '3'], home.env);
    assert.equal(code, 1);
    const report = JSON.parse(stdout);
    assert.equal(report.healthy, false);
    assert.match(report.checks[0].detail, /UNAVAILABLE/);
  });
});

describe('dts-util test with no server', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('exits 1 and tells how to start the server', async () => {
    const port = await freePort();
    fs.mkdirSync(path.join(home.home, 'tls'));
    fs.writeFileSync(path.join(home.home, 'tls', 'ca.pem'), 'not used');
    const { code, stdout } = await runCli(['test', '--json', '--no-tls', '--port', String(port)], home.env);
    assert.equal(code, 1);
    const detail: string = JSON.parse(stdout).checks[0].detail;
    assert.match(detail, /^UNAVAILABLE: No connection established\. Last error: .*ECONNREFUSED 127\.0\.0\.1:\d+\. Is the server running\? Start it with `dts-util serve`/);
    // grpc-js's empty "Resolution note: " for an address that resolved says nothing to a user.
    assert.doesNotMatch(detail, /Resolution note|\.\./);
  });

  it('exits 1 when there is no CA yet, and says how to get one', async () => {
    const other = tempHome();
    try {
      const { code, stdout } = await runCli(['test', '--json'], other.env);
      assert.equal(code, 1);
      assert.match(JSON.parse(stdout).checks[0].detail, /no CA certificate/);
    } finally {
      other.cleanup();
    }
  });
});

describe('usage errors exit 2 with a clear message', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('refuses a non-loopback address with neither TLS nor a secret', async () => {
    const { code, stderr } = await runCli(['serve', '--host', '0.0.0.0', '--no-tls', '--port', '0'], home.env);
    assert.equal(code, 2);
    assert.match(oneLine(stderr), /refusing to listen on 0\.0\.0\.0 without TLS and without a shared secret/);
  });

  it('says when the port is taken', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const { code, stderr } = await runCli(['serve', '--port', String(port)], home.env);
      assert.equal(code, 2);
      assert.match(oneLine(stderr), /already in use/);
      assert.match(oneLine(stderr), /--port/);
    } finally {
      blocker.close();
    }
  });

  it("refuses a models directory that cannot be one: a file, or a path under /proc (where Node's own mkdir -p spins forever)", async () => {
    const file = path.join(home.home, 'a-file');
    fs.writeFileSync(file, '');
    for (const [modelPath, code] of [
      [file, 'ENOTDIR'],
      ['/proc/dts-util-models', 'ENOENT'],
    ]) {
      const result = await runCli(['serve', '--port', '0', '--model-path', modelPath!], home.env);
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result.stderr), new RegExp(`models directory ${modelPath} cannot be created or written \\(${code}\\)`));
    }
  });

  it('rejects an invalid port, in JSON too', async () => {
    assert.equal((await runCli(['serve', '--port', '70000'], home.env)).code, 2);
    const bad = await runCli(['test', '--json'], { ...home.env, DTS_UTIL_PORT: 'seven' });
    assert.equal(bad.code, 2);
    assert.match(JSON.parse(bad.stdout).error.message, /invalid port "seven" from DTS_UTIL_PORT/);
  });

  it('rejects an upload idle timeout or upload limit that is not a whole number of 1 or more', async () => {
    for (const args of [
      ['--upload-idle-timeout', '0'],
      ['--upload-idle-timeout', 'soon'],
      ['--max-concurrent-uploads', '0'],
    ]) {
      const result = await runCli(['serve', '--port', '0', ...args], home.env);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    }
    const fromEnv = await runCli(['serve', '--port', '0', '--json'], { ...home.env, DTS_UTIL_UPLOAD_IDLE_TIMEOUT: '1.5' });
    assert.equal(fromEnv.code, 2, fromEnv.stderr);
    assert.match(JSON.parse(fromEnv.stdout).error.message, /invalid value "1\.5" from DTS_UTIL_UPLOAD_IDLE_TIMEOUT/);
  });
});

describe('a secret given on the command line', () => {
  const home = tempHome();
  const secret = 'argv-secret-5d1f0e';
  let serve: ServeProcess;
  before(async () => {
    serve = await spawnServe(['--shared-secret', secret], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('is scrubbed from the process arguments and the logs, with a warning', async () => {
    const cmdline = fs.readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(secret), `ps still shows the secret: ${cmdline}`);
    assert.ok(serve.lines.some((l) => l.level === 'warn' && String(l.msg).includes('command line')));
    const { code } = await runCli(['test', '--json', '--port', String(serve.port)], { ...home.env, DTS_UTIL_SHARED_SECRET: secret });
    assert.equal(code, 0);
    assert.ok(!JSON.stringify(serve.lines).includes(secret));
  });
});

describe('graceful shutdown on SIGTERM', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('turns health NOT_SERVING, lets a running upload finish, then exits 0', async () => {
    const serve = await spawnServe(['--no-tls', '--grace-period', '20'], home.env);
    const connection = connect({ address: `127.0.0.1:${serve.port}`, tls: false });
    try {
      // A health watcher sees the status change; an upload is in flight when the signal comes.
      const statuses: string[] = [];
      const watch = (connection.health as unknown as { watch(req: { service: string }): NodeJS.ReadableStream & { cancel(): void } }).watch({ service: '' });
      watch.on('data', (m: { status: string | number }) => statuses.push(String(m.status)));
      watch.on('error', () => undefined);
      const data = Buffer.alloc(256 * 1024, 7);
      let reply: Promise<string>;
      const stream = await new Promise<ReturnType<typeof connection.service.uploadFile>>((resolve) => {
        reply = new Promise((res, rej) => {
          const s = connection.service.uploadFile(new Metadata(), (e, r) => (e ? rej(e) : res(r.message)));
          s.write({ filename: 'drain/test.bin', data: data.subarray(0, 1024), sha256: sha256(data), size: data.length });
          resolve(s);
        });
      });
      await waitUntil(() => fs.existsSync(path.join(home.home, 'models', '.dts-util-incoming')) && statuses.length > 0);
      serve.child.kill('SIGTERM');
      await serve.waitForLine((l) => String(l.msg).startsWith('shutting down'));
      await waitUntil(() => statuses.some((s) => s === 'NOT_SERVING' || s === '2'));
      watch.cancel();
      stream.write({ filename: '', data: data.subarray(1024), sha256: '', size: 0 });
      stream.end();
      assert.match(await reply!, /stored drain\/test\.bin: 262144 bytes/);
      assert.equal(await serve.exited, 0);
      assert.deepEqual(fs.readFileSync(path.join(home.home, 'models', 'drain', 'test.bin')), data);
      assert.ok(serve.lines.some((l) => l.msg === 'stopped'));
    } finally {
      connection.close();
      serve.child.kill('SIGKILL');
    }
  });
});
