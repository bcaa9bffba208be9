import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { CommandError, type CommandResult, type CommandRunner } from '../../src/service/command-runner.js';
import { checkInstalledService } from '../../src/service/check-service.js';
import { planInstall } from '../../src/service/install.js';
import { uninstall } from '../../src/service/uninstall.js';
import { tempHome } from '../helpers/temp-home.js';
import { commandFromUnit, runService, type RunningService } from '../helpers/unit-command.js';
import { freePort } from '../helpers/ports.js';
import { listFiles } from '../helpers/test-server.js';

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

/** A systemctl that answers like one with no user bus: every verb but is-active fails. */
class BrokenSystemd implements CommandRunner {
  readonly calls: string[] = [];
  constructor(private readonly failing: (verb: string) => boolean = () => true) {}
  async run(command: string, args: string[], options: { reject?: boolean } = {}): Promise<CommandResult> {
    this.calls.push([command, ...args].join(' '));
    const verb = args.find((a) => !a.startsWith('-')) ?? '';
    if (verb === 'is-active') return { exitCode: 3, stdout: '', stderr: '' };
    if (!this.failing(verb)) return { exitCode: 0, stdout: '', stderr: '' };
    const result = { exitCode: 1, stdout: '', stderr: 'Failed to connect to bus: No medium found' };
    if (options.reject ?? true) throw new CommandError(command, args, result);
    return result;
  }
}

describe('a failed install rolls back what it wrote, and uninstall removes what one left', () => {
  const home = tempHome();
  const unitFile = path.join(home.home, '.config', 'systemd', 'user', 'dts-util.service');
  after(() => home.cleanup());
  const install = async (runner: CommandRunner, flags = {}) =>
    planInstall({ flags, generateSecret: true, name: 'dts-util', manager: 'systemd', scope: 'user', dryRun: false, yes: true, env: home.env, runner, healthTimeoutMs: 1000 });

  it('a first install whose start fails leaves nothing: no unit, config, secrets or certificates', async () => {
    const port = await freePort();
    const before = listFiles(home.home);
    const systemd = new BrokenSystemd((verb) => verb === 'start');
    const { steps, rollback } = await install(systemd, { port });
    await assert.rejects(async () => {
      for (const step of steps) await step.run();
    }, /systemctl --user start dts-util\.service` failed \(exit 1\): Failed to connect to bus/);
    const undone = await rollback();
    assert.deepEqual(listFiles(home.home), before, `left behind; the rollback said: ${undone.join('; ')}`);
    assert.ok(!fs.existsSync(path.join(home.home, 'tls')) && !fs.existsSync(path.dirname(unitFile)));
    assert.ok(undone.some((line) => line === `removed ${unitFile}`), undone.join('; '));
    assert.deepEqual(systemd.calls.slice(-4), ['systemctl --user stop dts-util.service', 'systemctl --user disable dts-util.service', 'systemctl --user daemon-reload', 'systemctl --user reset-failed dts-util.service']);
  });

  it('a changed install that fails puts the earlier one back, files and unit', async () => {
    const port = await freePort();
    const first = await install(new BrokenSystemd(() => false), { port });
    for (const step of first.steps.filter((s) => !/healthy/.test(s.title))) await step.run();
    const saved = Object.fromEntries(listFiles(home.home).map((f) => [f, fs.readFileSync(path.join(home.home, f), 'utf8')]));
    const systemd = new BrokenSystemd((verb) => verb === 'restart');
    const second = await install(systemd, { port, maxQueue: 3 });
    await assert.rejects(async () => {
      for (const step of second.steps) await step.run();
    }, /restart dts-util\.service` failed/);
    await second.rollback();
    assert.deepEqual(Object.fromEntries(listFiles(home.home).map((f) => [f, fs.readFileSync(path.join(home.home, f), 'utf8')])), saved);
    assert.equal(JSON.parse(saved['config.json']!).maxQueue, 16);
    assert.deepEqual(systemd.calls.slice(-1), ['systemctl --user daemon-reload']);
  });

  it('uninstall removes a unit that systemctl cannot stop or unload, and says what failed', async () => {
    assert.ok(fs.existsSync(unitFile));
    const result = await uninstall({ name: 'dts-util', manager: 'systemd', scope: 'user', purge: false, yes: true, env: home.env, runner: new BrokenSystemd() });
    assert.ok(!fs.existsSync(unitFile) && result.removed.includes(unitFile));
    assert.ok(!fs.existsSync(path.join(home.home, 'config.json')));
    assert.match(result.warnings.join('\n'), /could not stop dts-util: .*Failed to connect to bus/);
  });

  it('uninstall with no service manager running still finds and removes a unit an install left', async () => {
    fs.mkdirSync(path.dirname(unitFile), { recursive: true });
    fs.writeFileSync(unitFile, '[Service]\nExecStart=/bin/true\n');
    // systemd is not PID 1 here, so 'auto' finds no manager.
    const result = await uninstall({ name: 'dts-util', manager: 'auto', scope: 'user', purge: false, yes: true, env: home.env });
    assert.ok(!fs.existsSync(unitFile) && result.removed.includes(unitFile));
    assert.match(result.warnings.join('\n'), /systemd is not running here, so dts-util was not stopped/);
  });
});
