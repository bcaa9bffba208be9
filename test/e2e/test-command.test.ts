import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { oneLine, runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

interface ReportCheck {
  name: string;
  ok: boolean;
  detail: string;
  durationMs?: number;
  caPath?: string;
  caFingerprint?: string;
  certificate?: { subjectAltNames: string[]; issuer: string; daysLeft: number; verified: boolean };
  latencyMs?: { calls: number; p50: number; max: number };
  generation?: { model: string; family: string; device: string; width: number; height: number; pngBytes: number };
}

interface Report {
  healthy: boolean;
  address: string;
  tls: boolean;
  checks: ReportCheck[];
}

const check = (report: Report, name: string): ReportCheck => {
  const found = report.checks.find((c) => c.name === name);
  assert.ok(found, `no ${name} check in ${JSON.stringify(report)}`);
  return found;
};

/** What `serve` printed in its start-up line, for comparing with what `test` saw. */
const listeningLine = (serve: ServeProcess) => serve.lines.find((l) => l.msg === 'dts-util server listening')!;

describe('dts-util test against a TLS server (built binary)', () => {
  const home = tempHome();
  let serve: ServeProcess;
  // --device cpu: the generation's device is then known on any machine, GPU or not.
  before(async () => {
    serve = await spawnServe(['--device', 'cpu'], home.env);
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('--json reports tls, echo and health ok, with the CA fingerprint serve logged', async () => {
    const { code, stdout } = await runCli(['test', '--json', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stdout);
    const report = JSON.parse(stdout) as Report;
    assert.equal(report.healthy, true);
    assert.deepEqual(report.checks.map((c) => [c.name, c.ok]), [['tls', true], ['echo', true], ['health', true], ['models', true], ['monitoring', true]]);

    const tls = check(report, 'tls');
    assert.equal(tls.caFingerprint, listeningLine(serve).caFingerprint);
    assert.equal(tls.caPath, path.join(home.home, 'tls', 'ca.pem'));
    assert.equal(tls.certificate?.verified, true);
    assert.ok(tls.certificate?.subjectAltNames.includes('DNS:localhost'), JSON.stringify(tls.certificate));
    assert.ok(tls.certificate?.subjectAltNames.includes('IP Address:::1'), JSON.stringify(tls.certificate));
    assert.match(tls.certificate!.issuer, /dts-util CA/);
    assert.ok(tls.certificate!.daysLeft > 30);
    assert.match(tls.detail, new RegExp(`SHA-256 ${tls.caFingerprint}`));

    const echo = check(report, 'echo');
    assert.equal(echo.latencyMs?.calls, 5);
    assert.match(echo.detail, /Echo answered HELLO 5 times: p50 [\d.]+ ms, max [\d.]+ ms/);
    assert.equal(echo.durationMs, echo.latencyMs?.p50);
  });

  it('prints a readable verdict, one line per check', async () => {
    const { code, stdout } = await runCli(['test', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stdout);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^healthy: 127\.0\.0\.1:\d+ \(TLS\)$/);
    assert.match(lines[1]!, /^ {2}✓ tls: certificate for localhost, 127\.0\.0\.1, ::1(, .*)? \(issued by CN=dts-util CA .*\), expires \d{4}-\d\d-\d\d \(in \d+ days\); CA .*SHA-256 [0-9A-F:]+ \([\d.]+ ms\)$/);
    assert.match(lines[2]!, /^ {2}✓ echo: Echo answered HELLO 5 times/);
    assert.match(lines[3]!, /^ {2}✓ health: SERVING/);
    assert.match(lines[4]!, /^ {2}✓ models: no model installed yet \(only the built-in smoke\)/);
    assert.match(lines[5]!, /^ {2}✓ monitoring: metrics to udp:\/\/127\.0\.0\.1:8125; Datadog logs not configured/);
    assert.equal(lines.length, 6);
  });

  it('--generate makes one image end to end and names the device and the model', async () => {
    const { code, stdout } = await runCli(['test', '--generate', '--json', '--port', String(serve.port)], home.env);
    assert.equal(code, 0, stdout);
    const report = JSON.parse(stdout) as Report;
    assert.equal(report.healthy, true);
    assert.deepEqual(report.checks.map((c) => c.name), ['tls', 'echo', 'health', 'models', 'monitoring', 'generate']);
    const generate = check(report, 'generate');
    assert.equal(generate.ok, true, generate.detail);
    assert.equal(generate.generation?.device, 'cpu');
    assert.equal(generate.generation?.model, 'smoke');
    assert.equal(generate.generation?.family, 'sd1');
    assert.equal(generate.generation?.width, 64);
    assert.equal(generate.generation?.height, 64);
    assert.ok(generate.generation!.pngBytes > 0);
    assert.match(generate.detail, /^model smoke \(sd1\) on cpu made a valid 64×64 PNG \(2 steps, seed 42\) in \d+ ms \(pipeline [\d.]+ ms\)$/);
  });

  it('--generate with a model that is not installed is unhealthy and says how to add one', async () => {
    const { code, stdout } = await runCli(['test', '--generate', '--model', 'nope', '--port', String(serve.port)], home.env);
    assert.equal(code, 1, stdout);
    assert.match(stdout, /^UNHEALTHY: /);
    assert.match(stdout, /✗ generate: NOT_FOUND: model "nope" is not installed \(installed: .*smoke.*\); install one with `dts-util models pull REPO`/);
  });

  it('the same under --json: the report on stdout, exit 1', async () => {
    const { code, stdout } = await runCli(['test', '--json', '--generate', '--model', 'nope', '--port', String(serve.port)], home.env);
    assert.equal(code, 1, stdout);
    const report = JSON.parse(stdout) as Report;
    assert.equal(report.healthy, false);
    assert.match(check(report, 'generate').detail, /^NOT_FOUND: .*`dts-util models upload FOLDER`/);
  });

  it('a server whose certificate another CA signed fails the tls check and says which CA to pass', async () => {
    const otherHome = tempHome();
    const other = await spawnServe([], otherHome.env);
    try {
      const firstCa = path.join(home.home, 'tls', 'ca.pem');
      const { code, stdout } = await runCli(['test', '--json', '--port', String(other.port), '--ca', firstCa], otherHome.env);
      assert.equal(code, 1, stdout);
      const report = JSON.parse(stdout) as Report;
      assert.equal(report.healthy, false);
      assert.deepEqual(report.checks.map((c) => [c.name, c.ok]), [['tls', false]]);
      const tls = check(report, 'tls');
      assert.ok(tls.detail.startsWith(`the server's certificate is not signed by ${firstCa}; pass the server's ca.pem with --ca`), tls.detail);
      assert.equal(tls.caFingerprint, listeningLine(serve).caFingerprint);
      assert.notEqual(tls.caFingerprint, listeningLine(other).caFingerprint);
      assert.equal(tls.certificate?.verified, false);
    } finally {
      other.child.kill('SIGKILL');
      otherHome.cleanup();
    }
  });

  it('--ca naming a missing file is a usage error: exit 2, under --json too', async () => {
    const human = await runCli(['test', '--port', String(serve.port), '--ca', '/does/not/exist'], home.env);
    assert.equal(human.code, 2, human.stderr);
    assert.match(oneLine(human.stderr), /cannot read the CA certificate \/does\/not\/exist given with --ca/);
    const json = await runCli(['test', '--json', '--port', String(serve.port), '--ca', '/does/not/exist'], home.env);
    assert.equal(json.code, 2, json.stdout);
    assert.equal(JSON.parse(json.stdout).error.exitCode, 2);
  });

  it('bad flag values are usage errors: exit 2, under --json too', async () => {
    for (const args of [['--timeout', '0'], ['--timeout', 'soon'], ['--model', 'smoke']]) {
      const human = await runCli(['test', '--port', String(serve.port), ...args], home.env);
      assert.equal(human.code, 2, `${args.join(' ')}: ${human.stderr}`);
      const json = await runCli(['test', '--json', '--port', String(serve.port), ...args], home.env);
      assert.equal(json.code, 2, `${args.join(' ')} --json: ${json.stdout}`);
      assert.ok(JSON.parse(json.stdout).error.message, json.stdout);
    }
  });
});

describe('dts-util test against a server that requires a shared secret', () => {
  const home = tempHome();
  const secret = 'smoke-secret-9c2a71';
  let serve: ServeProcess;
  before(async () => {
    serve = await spawnServe([], { ...home.env, DTS_UTIL_SHARED_SECRET: secret });
  });
  after(() => {
    serve.child.kill('SIGKILL');
    home.cleanup();
  });

  it('is unhealthy without the secret, with UNAUTHENTICATED and how to pass it', async () => {
    const { code, stdout } = await runCli(['test', '--json', '--port', String(serve.port)], { ...home.env, DTS_UTIL_SHARED_SECRET: '' });
    assert.equal(code, 1, stdout);
    const report = JSON.parse(stdout) as Report;
    assert.equal(report.healthy, false);
    assert.equal(check(report, 'tls').ok, true);
    const echo = check(report, 'echo');
    assert.equal(echo.ok, false);
    assert.match(echo.detail, /^UNAUTHENTICATED: .*DTS_UTIL_SHARED_SECRET/);
  });

  it('is healthy with the secret in DTS_UTIL_SHARED_SECRET, and never prints it', async () => {
    const { code, stdout, stderr } = await runCli(['test', '--json', '--port', String(serve.port)], { ...home.env, DTS_UTIL_SHARED_SECRET: secret });
    assert.equal(code, 0, stdout);
    assert.equal((JSON.parse(stdout) as Report).healthy, true);
    assert.ok(!stdout.includes(secret) && !stderr.includes(secret));
  });
});
