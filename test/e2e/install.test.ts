import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { runCli, spawnServe } from '../helpers/cli.js';
import { listFiles } from '../helpers/test-server.js';
import { tempHome } from '../helpers/temp-home.js';
import { freePort } from '../helpers/ports.js';


/** Every file under dir with its mode, for permission checks. */
function modes(dir: string): Record<string, number> {
  return Object.fromEntries(listFiles(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mode & 0o777]));
}

describe('install --service-manager none → serve → test --generate → uninstall (real, in a temporary DTS_UTIL_HOME)', () => {
  const home = tempHome();
  const secret = 'install-flow-secret-8c2d';
  after(() => home.cleanup());

  it('runs the whole life cycle and leaves nothing behind', async () => {
    const port = await freePort();
    const datadogKey = 'dd-api-key-4f1e9b';
    const env = { ...home.env, DTS_UTIL_SHARED_SECRET: secret };
    const install = await runCli(['install', '--service-manager', 'none', '--port', String(port), '--json'], { ...env, DD_API_KEY: datadogKey });
    assert.equal(install.code, 0, install.stderr + install.stdout);
    const result = JSON.parse(install.stdout);
    assert.equal(result.manager, 'none');
    assert.equal(result.secretRequired, true);
    assert.match(result.serveCommand, /bin\/run\.js' serve$|bin\/run\.js serve$/);
    assert.match(result.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    // Secrets only in secrets.env (0600), keys 0600, folders private; config has no secret.
    const files = modes(home.home);
    assert.equal(files['secrets.env'], 0o600);
    assert.equal(files['tls/ca-key.pem'], 0o600);
    assert.equal(files['tls/server-key.pem'], 0o600);
    assert.equal(fs.statSync(home.home).mode & 0o777, 0o700);
    assert.match(fs.readFileSync(path.join(home.home, 'secrets.env'), 'utf8'), new RegExp(`^DD_API_KEY=${datadogKey}$`, 'm'));
    for (const file of Object.keys(files).filter((f) => f !== 'secrets.env')) {
      const text = fs.readFileSync(path.join(home.home, file));
      assert.ok(!text.includes(secret) && !text.includes(datadogKey), `${file} holds a secret`);
    }
    for (const output of [install.stdout, install.stderr]) assert.ok(!output.includes(secret) && !output.includes(datadogKey));
    const installed = JSON.parse(fs.readFileSync(path.join(home.home, 'config.json'), 'utf8'));
    assert.equal(installed.port, port);
    assert.equal(installed.directIo, undefined, 'a default left out, so installs from before the setting read the same');
    assert.deepEqual([installed.uploadIdleTimeout, installed.maxConcurrentUploads], [undefined, undefined], 'defaults left out');

    // Running it again with the same flags changes nothing.
    const again = await runCli(['install', '--service-manager', 'none', '--port', String(port), '--json'], env);
    assert.equal(JSON.parse(again.stdout).changed, false);
    // New flags on an existing install need --yes when nobody can be asked.
    const other = await runCli(['install', '--service-manager', 'none', '--port', String(port), '--max-queue', '3', '--json'], env);
    assert.equal(other.code, 2);
    assert.match(JSON.parse(other.stdout).error.suggestion, /--yes/);
    // With --yes the change is written where the service reads it, strict device choice included.
    const strict = await runCli(
      ['install', '--service-manager', 'none', '--port', String(port), '--no-device-fallback', '--no-direct-io', '--upload-idle-timeout', '120', '--max-concurrent-uploads', '4', '--yes', '--json'],
      env,
    );
    assert.equal(strict.code, 0, strict.stdout + strict.stderr);
    const written = JSON.parse(fs.readFileSync(path.join(home.home, 'config.json'), 'utf8'));
    assert.deepEqual([written.deviceFallback, written.directIo, written.uploadIdleTimeout, written.maxConcurrentUploads], [false, false, 120, 4]);

    // The server the install describes: started with the secret only in secrets.env.
    const serve = await spawnServe(['--port', String(port)], home.env);
    try {
      const healthy = await runCli(['test', '--json', '--generate'], env);
      assert.equal(healthy.code, 0, healthy.stdout);
      // The server took the secret from secrets.env: a client with another one is refused.
      const wrong = await runCli(['test', '--json'], { ...home.env, DTS_UTIL_SHARED_SECRET: 'not-the-secret' });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stdout, /UNAUTHENTICATED/);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }

    const removal = await runCli(['uninstall', '--service-manager', 'none', '--json'], home.env);
    assert.equal(removal.code, 0, removal.stderr);
    assert.ok(JSON.parse(removal.stdout).kept.some((f: string) => f.endsWith('models')));
    // ONNX Runtime itself drops a device id in $HOME/.cache/Microsoft (HOME is this folder here);
    // that is not the tool's to remove.
    const ours = () => fs.readdirSync(home.home).filter((f) => f !== '.cache');
    assert.deepEqual(ours(), ['models']);
    const twice = await runCli(['uninstall', '--service-manager', 'none', '--json'], home.env);
    assert.equal(twice.code, 0);
    assert.equal(JSON.parse(twice.stdout).changed, false);
    const purge = await runCli(['uninstall', '--service-manager', 'none', '--purge', '-y', '--json'], home.env);
    assert.equal(purge.code, 0);
    assert.ok(!fs.existsSync(home.home) || ours().length === 0, `the tool left something behind: ${fs.existsSync(home.home) ? ours().join(', ') : ''}`);
  });
});

describe('install --generate-secret run twice', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('keeps the secret it made the first time, and changes nothing', async () => {
    const port = await freePort();
    const args = ['install', '--service-manager', 'none', '--generate-secret', '--port', String(port), '--json'];
    const first = await runCli(args, home.env);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const secret = JSON.parse(first.stdout).generatedSecret;
    assert.match(secret, /^.{32,}$/);
    const secrets = fs.readFileSync(path.join(home.home, 'secrets.env'), 'utf8');
    const again = await runCli(args, home.env);
    assert.equal(again.code, 0, again.stdout);
    const result = JSON.parse(again.stdout);
    assert.deepEqual([result.changed, result.secretKept, result.generatedSecret], [false, true, undefined]);
    assert.equal(fs.readFileSync(path.join(home.home, 'secrets.env'), 'utf8'), secrets);
    assert.ok(!again.stdout.includes(secret), 'the secret was printed a second time');
  });
});

describe('install refuses what it cannot do, with exit 2 and a way forward', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('an automatic service manager where none runs', async () => {
    const { code, stdout } = await runCli(['install', '--json'], home.env);
    assert.equal(code, 2);
    assert.match(JSON.parse(stdout).error.suggestion, /--service-manager none/);
  });

  it('a port in use, naming it', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const { code, stdout } = await runCli(['install', '--service-manager', 'none', '--port', String(port), '--json'], home.env);
      assert.equal(code, 2);
      assert.match(JSON.parse(stdout).error.message, new RegExp(`port ${port} is in use`));
    } finally {
      blocker.close();
    }
  });

  it('a non-loopback host with neither TLS nor a secret; an invalid port; an unknown manager', async () => {
    const open = await runCli(['install', '--service-manager', 'none', '--host', '0.0.0.0', '--no-tls', '--json'], home.env);
    assert.equal(open.code, 2);
    assert.match(JSON.parse(open.stdout).error.message, /without TLS and without a shared secret/);
    assert.equal((await runCli(['install', '--service-manager', 'none', '--port', '99999'], home.env)).code, 2);
    assert.equal((await runCli(['install', '--service-manager', 'upstart'], home.env)).code, 2);
  });

  it('a models directory that cannot be written', async () => {
    const blocker = path.join(home.home, 'a-file');
    fs.writeFileSync(blocker, '');
    const { code, stdout } = await runCli(['install', '--service-manager', 'none', '--model-path', path.join(blocker, 'models'), '--json'], home.env);
    assert.equal(code, 2);
    assert.match(JSON.parse(stdout).error.message, /models directory .* cannot be created or written/);
    // Under /proc permissions say yes and every mkdir says no: refused before any step, nothing written.
    const proc = await runCli(['install', '--service-manager', 'none', '--model-path', '/proc/dts-util-models', '--json'], home.env);
    assert.equal(proc.code, 2, proc.stdout);
    assert.match(JSON.parse(proc.stdout).error.message, /models directory \/proc\/dts-util-models cannot be created or written \(ENOENT at \/proc\)/);
    assert.equal(fs.existsSync(path.join(home.home, 'config.json')), false);
    fs.rmSync(blocker);
  });

  it('--dry-run prints the service file and configuration and writes nothing', async () => {
    const dry = tempHome();
    try {
      const { code, stdout } = await runCli(['install', '--service-manager', 'systemd', '--user', '--dry-run', '--json'], dry.env);
      assert.equal(code, 0, stdout);
      const result = JSON.parse(stdout);
      assert.match(result.serviceText, /^ExecStart=/m);
      assert.deepEqual(fs.readdirSync(dry.home), []);
    } finally {
      dry.cleanup();
    }
  });

  it('--dry-run where no service manager runs still shows the unit, and says so', async () => {
    const dry = tempHome();
    try {
      const { code, stdout } = await runCli(['install', '--dry-run', '--user', '--json'], dry.env);
      assert.equal(code, 0, stdout);
      const result = JSON.parse(stdout);
      assert.equal(result.manager, 'systemd');
      assert.match(result.serviceText, /^ExecStart=.*bin\/run\.js.* serve$/m);
      assert.match(result.note, /no service manager is running here, so this is the systemd unit an install would write/);
      assert.deepEqual(fs.readdirSync(dry.home), []);
      const text = await runCli(['install', '--dry-run', '--user'], dry.env);
      assert.match(text.stdout, /^Note: no service manager is running here/m);
    } finally {
      dry.cleanup();
    }
  });
});
