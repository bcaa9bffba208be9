import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import type { CommandResult, CommandRunner } from '../../src/service/command-runner.js';
import { checkInstalledService } from '../../src/service/check-service.js';
import { planInstall } from '../../src/service/install.js';
import { uninstall } from '../../src/service/uninstall.js';
import { tempHome } from '../helpers/temp-home.js';
import { commandFromUnit, runService, type RunningService } from '../helpers/unit-command.js';
import { freePort } from '../helpers/ports.js';

/**
 * systemd cannot run here, so this stand-in plays it: it records every systemctl call and, on
 * start/restart, runs exactly the ExecStart= line of the unit that install wrote (with its
 * Environment= and EnvironmentFile=), as systemd would. install then has to reach a healthy TLS
 * server on its own, through the unit it rendered.
 */
class FakeSystemd implements CommandRunner {
  readonly calls: string[] = [];
  private service: RunningService | undefined;

  constructor(private readonly unitFile: () => string) {}

  async run(command: string, args: string[]): Promise<CommandResult> {
    this.calls.push([command, ...args].join(' '));
    const verb = args.find((a) => !a.startsWith('-'));
    if (verb === 'start' || verb === 'restart') {
      await this.stopService();
      this.service = runService(commandFromUnit(fs.readFileSync(this.unitFile(), 'utf8')));
    }
    if (verb === 'stop') await this.stopService();
    if (verb === 'is-active') return { exitCode: this.service ? 0 : 3, stdout: '', stderr: '' };
    return { exitCode: 0, stdout: '', stderr: '' };
  }

  async stopService(): Promise<void> {
    if (!this.service) return;
    this.service.child.kill('SIGTERM');
    await this.service.exited;
    this.service = undefined;
  }
}


describe('install and uninstall through systemd (a recording stand-in that runs the unit)', () => {
  const home = tempHome();
  const unitFile = path.join(home.home, '.config', 'systemd', 'user', 'dts-util.service');
  const systemd = new FakeSystemd(() => unitFile);
  after(async () => {
    await systemd.stopService();
    home.cleanup();
  });

  it('writes the unit, enables and starts it, and waits until the server answers over TLS', async () => {
    const port = await freePort();
    const { steps, result } = await planInstall({
      flags: { port },
      generateSecret: true,
      name: 'dts-util',
      manager: 'systemd',
      scope: 'user',
      dryRun: false,
      yes: true,
      env: home.env,
      runner: systemd,
      healthTimeoutMs: 60_000,
    });
    for (const step of steps) await step.run();
    assert.equal(result.serviceFile, unitFile);
    assert.ok(!fs.readFileSync(unitFile, 'utf8').includes(result.generatedSecret!), 'the secret is in the unit');
    assert.deepEqual(systemd.calls, [
      'systemctl --user is-active --quiet dts-util.service',
      'systemctl --user daemon-reload',
      'systemctl --user enable dts-util.service',
      'systemctl --user start dts-util.service',
    ]);
  });

  it('uninstall stops, disables and removes the unit and the files, keeping the models', async () => {
    systemd.calls.length = 0;
    const removed = await uninstall({ name: 'dts-util', manager: 'systemd', scope: 'user', purge: false, yes: true, env: home.env, runner: systemd });
    assert.ok(removed.removed.includes(unitFile));
    assert.ok(!fs.existsSync(unitFile));
    assert.deepEqual(systemd.calls.slice(0, 2), ['systemctl --user stop dts-util.service', 'systemctl --user disable dts-util.service']);
    assert.ok(!fs.existsSync(path.join(home.home, 'secrets.env')) && !fs.existsSync(path.join(home.home, 'tls')));
  });
});

describe("dts-util test's service check", () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('reports an installed service that runs, one that does not, and nothing when none is installed', async () => {
    const active = new FakeActivity();
    const check = () => checkInstalledService({ name: 'dts-util', env: home.env, manager: 'systemd', scope: 'user', runner: active });
    assert.equal(await check(), undefined);
    const unit = path.join(home.home, '.config', 'systemd', 'user', 'dts-util.service');
    fs.mkdirSync(path.dirname(unit), { recursive: true });
    fs.writeFileSync(unit, '[Service]\nExecStart=/bin/true\n');
    active.running = true;
    assert.deepEqual([(await check())?.ok, (await check())?.detail], [true, 'systemd service dts-util is running']);
    active.running = false;
    const stopped = await check();
    assert.equal(stopped?.ok, false);
    assert.match(stopped!.detail, /installed but not running: start it with `dts-util start`/);
  });
});

/** A systemctl that only answers is-active. */
class FakeActivity implements CommandRunner {
  running = false;
  async run(_command: string, args: string[]): Promise<CommandResult> {
    return { exitCode: args.includes('is-active') && this.running ? 0 : 3, stdout: '', stderr: '' };
  }
}
