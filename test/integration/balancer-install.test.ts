import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { execa } from 'execa';

import { installBalancer } from '../../src/balancer/install.js';
import { unaryCall, connect } from '../../src/client/client.js';
import type { CommandResult, CommandRunner } from '../../src/service/command-runner.js';
import { freePort } from '../helpers/ports.js';
import { tempHome } from '../helpers/temp-home.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { commandFromUnit, runService, type RunningService } from '../helpers/unit-command.js';

/** systemd cannot run here: this stand-in records systemctl calls and, on (re)start, runs the unit's ExecStart= as systemd would. */
class FakeSystemd implements CommandRunner {
  readonly calls: string[] = [];
  service: RunningService | undefined;

  constructor(private readonly unitFile: () => string) {}

  async run(command: string, args: string[]): Promise<CommandResult> {
    // The configuration check (haproxy -c) is real.
    if (command !== 'systemctl') {
      const result = await execa(command, args, { reject: false });
      return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
    }
    this.calls.push([command, ...args].join(' '));
    const verb = args.find((a) => !a.startsWith('-'));
    if (verb === 'start' || verb === 'restart') {
      await this.stop();
      this.service = runService(commandFromUnit(fs.readFileSync(this.unitFile(), 'utf8')));
    }
    return { exitCode: 0, stdout: '', stderr: '' };
  }

  async stop(): Promise<void> {
    if (!this.service) return;
    this.service.child.kill('SIGTERM');
    await this.service.exited;
    this.service = undefined;
  }
}

describe('balancer install (systemd played by a stand-in that runs the unit; real HAProxy)', () => {
  const home = tempHome();
  const unitFile = path.join(home.home, '.config', 'systemd', 'user', 'dts-util-balancer.service');
  const systemd = new FakeSystemd(() => unitFile);
  let backend: TestServer;
  before(async () => {
    backend = await startTestServer({ tls: false });
  });
  after(async () => {
    await systemd.stop();
    await backend.stop();
    home.cleanup();
  });

  it('writes and checks the configuration, installs, enables and starts a unit whose HAProxy proxies to the backend', async () => {
    const listen = await freePort();
    const out = path.join(home.home, 'balancer.cfg');
    const result = await installBalancer({
      flags: { listen: `127.0.0.1:${listen}`, backend: [`127.0.0.1:${backend.server.port}`], workers: 1, tls: false },
      out,
      name: 'dts-util-balancer',
      manager: 'systemd',
      scope: 'user',
      haproxy: 'haproxy',
      dryRun: false,
      env: { ...home.env, PATH: process.env.PATH },
      runner: systemd,
    });
    assert.equal(result.configFile, out);
    assert.equal(result.serviceFile, unitFile);
    assert.ok(systemd.calls.some((c) => /enable/.test(c)) && systemd.calls.some((c) => /restart|start/.test(c)), systemd.calls.join('; '));
    // The unit is one systemd itself accepts.
    const runtimeDir = fs.mkdtempSync(path.join(home.home, 'run-'));
    const verified = await execa('systemd-analyze', ['verify', '--user', unitFile], { reject: false, env: { XDG_RUNTIME_DIR: runtimeDir }, stdin: 'ignore' });
    assert.equal(verified.exitCode, 0, verified.stderr);
    // And what it runs is a working balancer: Echo goes through it to the backend.
    const client = connect({ address: `127.0.0.1:${listen}`, tls: false });
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          assert.equal((await unaryCall(client.service, client.service.echo, {}, 2_000)).message, 'HELLO');
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      client.close();
    }
  });

  it('--dry-run changes nothing; a configuration HAProxy refuses is a usage error naming the file', async () => {
    const out = path.join(home.home, 'dry.cfg');
    const dry = await installBalancer({ flags: { listen: '127.0.0.1:1', backend: ['127.0.0.1:2'], workers: 1, tls: false }, out, name: 'dry', manager: 'none', scope: 'user', haproxy: 'haproxy', dryRun: true, env: home.env });
    assert.ok(!fs.existsSync(out));
    assert.match(dry.command, /haproxy -f .*dry\.cfg$/);
    await assert.rejects(
      installBalancer({ flags: { listen: '127.0.0.1:1', backend: ['127.0.0.1:2'], workers: 1, tls: true, 'tls-crt': path.join(home.home, 'missing.pem'), 'backend-ca': path.join(home.home, 'ca.pem') }, out, name: 'bad', manager: 'none', scope: 'user', haproxy: 'haproxy', dryRun: false, env: home.env }),
      /haproxy refused the configuration .*dry\.cfg/,
    );
  });
});
