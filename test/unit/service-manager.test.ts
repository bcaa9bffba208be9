import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';

import { CommandError, execaRunner, type CommandResult, type CommandRunner, type RunOptions } from '../../src/service/command-runner.js';
import { LaunchdManager } from '../../src/service/launchd-manager.js';
import { createManager, detectManager } from '../../src/service/manager.js';
import type { ServicePlan } from '../../src/service/plan.js';
import { SystemdManager } from '../../src/service/systemd-manager.js';

/** Records every command line; answers from `respond` (default: success, no output), throwing as the real runner does. */
class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly respond: (argv: string[]) => Partial<CommandResult> = () => ({})) {}

  async run(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
    const argv = [command, ...args];
    this.calls.push(argv);
    const result: CommandResult = { exitCode: 0, stdout: '', stderr: '', ...this.respond(argv) };
    if ((options.reject ?? true) && result.exitCode !== 0) throw new CommandError(command, args, result);
    return result;
  }

  take(): string[][] {
    return this.calls.splice(0);
  }
}

/** What systemctl answers for a unit it has never heard of (systemd 252). */
function systemctlWithoutTheUnit(argv: string[]): Partial<CommandResult> {
  const verb = argv.find((a) => !a.startsWith('-') && a !== 'systemctl');
  if (verb === 'stop') return { exitCode: 5, stderr: 'Failed to stop dts-util.service: Unit dts-util.service not loaded.\n' };
  if (verb === 'disable') return { exitCode: 1, stderr: 'Failed to disable unit: Unit file dts-util.service does not exist.\n' };
  if (verb === 'reset-failed') return { exitCode: 1, stderr: 'Failed to reset failed state of unit dts-util.service: Unit dts-util.service not loaded.\n' };
  if (verb === 'is-active') return { exitCode: 4 };
  return {};
}

/**
 * launchctl as far as these verbs go: bootstrap loads (and, RunAtLoad, starts) the job, bootout
 * unloads it, print succeeds only for a loaded job.
 */
class FakeLaunchctl extends RecordingRunner {
  loaded = false;
  constructor() {
    super((argv) => {
      const [, verb] = argv;
      if (verb === 'print') return this.loaded ? { stdout: 'gui/501/com.dts-util.dts-util = {\n\tstate = running\n}\n' } : { exitCode: 113, stderr: 'Could not find service "com.dts-util.dts-util" in domain for port\n' };
      if (verb === 'bootstrap') this.loaded = true;
      if (verb === 'bootout') {
        if (!this.loaded) return { exitCode: 3, stderr: 'Boot-out failed: 3: No such process\n' };
        this.loaded = false;
      }
      return {};
    });
  }
}

function planFor(manager: 'systemd' | 'launchd', scope: 'user' | 'system', dir: string): ServicePlan {
  return {
    name: 'dts-util',
    manager,
    scope,
    nodePath: process.execPath,
    entryPoint: '/opt/dts-util/bin/run.js',
    environment: {},
    secretsFile: path.join(dir, 'config', 'secrets.env'),
    configDir: path.join(dir, 'config'),
    tlsDir: path.join(dir, 'config', 'tls'),
    logDir: path.join(dir, 'logs'),
    modelsDir: path.join(dir, 'models'),
  };
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

let tmp: string;
let home: string;
let root: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-manager-'));
  home = path.join(tmp, 'home');
  root = path.join(tmp, 'root');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('SystemdManager', () => {
  for (const scope of ['user', 'system'] as const) {
    const ctl = scope === 'user' ? ['systemctl', '--user'] : ['systemctl'];

    it(`runs the expected systemctl command lines for a ${scope} unit`, async () => {
      const runner = new RecordingRunner();
      const manager = new SystemdManager(runner, { homeDir: home, rootDir: root });
      const plan = planFor('systemd', scope, tmp);
      const unitFile = scope === 'user' ? path.join(home, '.config/systemd/user/dts-util.service') : path.join(root, 'etc/systemd/system/dts-util.service');

      const umask = process.umask(0o077);
      try {
        await manager.install(plan, '[Service]\nExecStart=/bin/true\n');
      } finally {
        process.umask(umask);
      }
      assert.equal(fs.readFileSync(unitFile, 'utf8'), '[Service]\nExecStart=/bin/true\n');
      assert.equal(mode(unitFile), 0o644, 'a unit is not secret, and the manager must read it');
      assert.deepEqual(runner.take(), [[...ctl, 'daemon-reload']]);

      await manager.enable(plan);
      await manager.start(plan);
      await manager.restart(plan);
      await manager.stop(plan);
      await manager.disable(plan);
      assert.deepEqual(runner.take(), [
        [...ctl, 'enable', 'dts-util.service'],
        [...ctl, 'start', 'dts-util.service'],
        [...ctl, 'restart', 'dts-util.service'],
        [...ctl, 'stop', 'dts-util.service'],
        [...ctl, 'disable', 'dts-util.service'],
      ]);

      assert.equal(await manager.isActive(plan), true);
      await manager.status(plan);
      assert.deepEqual(runner.take(), [
        [...ctl, 'is-active', '--quiet', 'dts-util.service'],
        [...ctl, 'status', '--no-pager', '--full', 'dts-util.service'],
      ]);

      await manager.remove(plan);
      assert.equal(fs.existsSync(unitFile), false);
      assert.deepEqual(runner.take(), [
        [...ctl, 'daemon-reload'],
        [...ctl, 'reset-failed', 'dts-util.service'],
      ]);

      assert.deepEqual(manager.logsCommand(plan, false), { command: 'journalctl', args: [...ctl.slice(1), '-u', 'dts-util.service'] });
      assert.deepEqual(manager.logsCommand(plan, true), { command: 'journalctl', args: [...ctl.slice(1), '-u', 'dts-util.service', '-f'] });
      assert.deepEqual(manager.logsCommand(plan, false, true), { command: 'journalctl', args: [...ctl.slice(1), '-u', 'dts-util.service', '-o', 'cat'] });
    });

    it(`stops, disables and removes a ${scope} unit that is not installed, twice, without an error`, async () => {
      const runner = new RecordingRunner(systemctlWithoutTheUnit);
      const manager = new SystemdManager(runner, { homeDir: home, rootDir: root });
      const plan = planFor('systemd', scope, tmp);
      for (let round = 0; round < 2; round++) {
        await manager.stop(plan);
        await manager.disable(plan);
        await manager.remove(plan);
      }
      assert.equal(await manager.isActive(plan), false);
    });
  }

  it('reports a real failure (not "nothing there") from stop', async () => {
    const runner = new RecordingRunner(() => ({ exitCode: 1, stderr: 'Failed to stop dts-util.service: Access denied\n' }));
    const manager = new SystemdManager(runner, { homeDir: home, rootDir: root });
    await assert.rejects(manager.stop(planFor('systemd', 'system', tmp)), (error: Error) => error instanceof CommandError && /systemctl stop dts-util.service.*Access denied/.test(error.message));
  });

  it('status returns what systemctl prints, also for a stopped unit (exit 3)', async () => {
    const runner = new RecordingRunner(() => ({ exitCode: 3, stdout: '○ dts-util.service - dts-util\n     Active: inactive (dead)\n' }));
    const manager = new SystemdManager(runner, { homeDir: home, rootDir: root });
    assert.match(await manager.status(planFor('systemd', 'user', tmp)), /Active: inactive/);
  });

  it('replaces an existing unit in place, still 0644', async () => {
    const manager = new SystemdManager(new RecordingRunner(), { homeDir: home, rootDir: root });
    const plan = planFor('systemd', 'user', tmp);
    await manager.install(plan, 'old\n');
    await manager.install(plan, 'new\n');
    const dir = path.join(home, '.config/systemd/user');
    assert.deepEqual(fs.readdirSync(dir), ['dts-util.service'], 'no staging file left behind');
    assert.equal(fs.readFileSync(path.join(dir, 'dts-util.service'), 'utf8'), 'new\n');
    assert.equal(mode(path.join(dir, 'dts-util.service')), 0o644);
  });
});

describe('LaunchdManager', () => {
  it('runs the expected launchctl command lines for a LaunchAgent (gui/<uid>)', async () => {
    const runner = new FakeLaunchctl();
    const manager = new LaunchdManager(runner, { homeDir: home, rootDir: root, uid: 501 });
    const plan = planFor('launchd', 'user', tmp);
    const plist = path.join(home, 'Library/LaunchAgents/com.dts-util.dts-util.plist');
    const target = 'gui/501/com.dts-util.dts-util';

    await manager.install(plan, '<plist/>\n');
    assert.equal(mode(plist), 0o644);
    assert.ok(fs.statSync(plan.logDir).isDirectory(), 'launchd does not make the log folder itself');
    assert.deepEqual(runner.take(), [], 'a new plist needs no launchctl call');

    await manager.enable(plan);
    await manager.start(plan);
    assert.deepEqual(runner.take(), [
      ['launchctl', 'enable', target],
      ['launchctl', 'print', target],
      ['launchctl', 'bootstrap', 'gui/501', plist],
    ]);

    await manager.start(plan);
    await manager.restart(plan);
    assert.equal(await manager.isActive(plan), true);
    assert.deepEqual(runner.take(), [
      ['launchctl', 'print', target],
      ['launchctl', 'kickstart', target],
      ['launchctl', 'print', target],
      ['launchctl', 'kickstart', '-k', target],
      ['launchctl', 'print', target],
    ]);

    // A changed plist unloads the job, so the next start reads the new definition.
    await manager.install(plan, '<plist>changed</plist>\n');
    await manager.restart(plan);
    assert.deepEqual(runner.take(), [
      ['launchctl', 'print', target],
      ['launchctl', 'bootout', target],
      ['launchctl', 'print', target],
      ['launchctl', 'bootstrap', 'gui/501', plist],
    ]);
    // The same plist again changes nothing.
    await manager.install(plan, '<plist>changed</plist>\n');
    assert.deepEqual(runner.take(), []);

    await manager.stop(plan);
    await manager.disable(plan);
    await manager.remove(plan);
    assert.equal(fs.existsSync(plist), false);
    assert.deepEqual(runner.take(), [
      ['launchctl', 'print', target],
      ['launchctl', 'bootout', target],
      ['launchctl', 'disable', target],
      ['launchctl', 'print', target],
    ]);

    assert.deepEqual(manager.logsCommand(plan, true), { command: 'tail', args: ['-F', '-n', '100', path.join(plan.logDir, 'dts-util.log'), path.join(plan.logDir, 'dts-util.err.log')] });
    assert.deepEqual(manager.logsCommand(plan, false).args[0], '-n');
    assert.deepEqual(manager.logsCommand(plan, false, true).args.slice(0, 3), ['-q', '-n', '100']);
  });

  it('puts a LaunchDaemon in /Library/LaunchDaemons and the system domain', async () => {
    const runner = new FakeLaunchctl();
    const manager = new LaunchdManager(runner, { homeDir: home, rootDir: root, uid: 0 });
    const plan = planFor('launchd', 'system', tmp);
    const plist = path.join(root, 'Library/LaunchDaemons/com.dts-util.dts-util.plist');
    await manager.install(plan, '<plist/>\n');
    assert.equal(mode(plist), 0o644);
    await manager.enable(plan);
    await manager.restart(plan);
    await manager.remove(plan);
    assert.deepEqual(runner.take(), [
      ['launchctl', 'enable', 'system/com.dts-util.dts-util'],
      ['launchctl', 'print', 'system/com.dts-util.dts-util'],
      ['launchctl', 'bootstrap', 'system', plist],
      ['launchctl', 'print', 'system/com.dts-util.dts-util'],
      ['launchctl', 'bootout', 'system/com.dts-util.dts-util'],
    ]);
  });

  it('stops, disables and removes a job that is not installed, twice, without an error', async () => {
    const runner = new FakeLaunchctl();
    const manager = new LaunchdManager(runner, { homeDir: home, rootDir: root, uid: 501 });
    const plan = planFor('launchd', 'user', tmp);
    for (let round = 0; round < 2; round++) {
      await manager.stop(plan);
      await manager.disable(plan);
      await manager.remove(plan);
    }
    assert.equal(await manager.isActive(plan), false);
    assert.match(await manager.status(plan), /gui\/501\/com\.dts-util\.dts-util is not loaded/);
  });
});

describe('detectManager and createManager', () => {
  it('finds none on this machine: systemctl is installed, but systemd is not running it (no /run/systemd/system)', async () => {
    // The rule, applied to the real machine; on this one (a container) that means 'none'.
    const systemdRuns = fs.existsSync('/run/systemd/system');
    assert.equal(await detectManager('linux', execaRunner), systemdRuns ? 'systemd' : 'none');
  });

  it('wants both systemctl and a running systemd', async () => {
    const systemctl = new RecordingRunner();
    const noSystemctl = new RecordingRunner(() => ({ exitCode: 127, stderr: 'spawn systemctl ENOENT' }));
    assert.equal(await detectManager('linux', systemctl, { rootDir: root }), 'none', 'systemctl installed, systemd not running');
    fs.mkdirSync(path.join(root, 'run/systemd/system'), { recursive: true });
    assert.equal(await detectManager('linux', noSystemctl, { rootDir: root }), 'none');
    assert.equal(await detectManager('linux', systemctl, { rootDir: root }), 'systemd');
    assert.deepEqual(systemctl.calls.at(-1), ['systemctl', '--version']);
  });

  it('finds launchd on macOS, and nothing elsewhere', async () => {
    assert.equal(await detectManager('darwin', new RecordingRunner(), { rootDir: root }), 'none');
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'bin/launchctl'), '');
    assert.equal(await detectManager('darwin', new RecordingRunner(), { rootDir: root }), 'launchd');
    assert.equal(await detectManager('win32', new RecordingRunner(), { rootDir: root }), 'none');
  });

  it('creates the manager of the kind asked for', () => {
    assert.equal(createManager('systemd', execaRunner).kind, 'systemd');
    assert.equal(createManager('launchd', execaRunner).kind, 'launchd');
  });
});

describe('execaRunner', () => {
  const cleanup: string[] = [];
  after(() => cleanup.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  it('returns exit status and output, without a shell', async () => {
    const result = await execaRunner.run(process.execPath, ['-e', 'console.log(process.argv[1]); process.exitCode = 3', '$HOME; echo not-a-shell'], { reject: false });
    assert.deepEqual(result, { exitCode: 3, stdout: '$HOME; echo not-a-shell', stderr: '' });
  });

  it('throws a CommandError naming the command when asked to reject', async () => {
    await assert.rejects(execaRunner.run(process.execPath, ['-e', 'console.error("boom"); process.exit(2)']), (error: Error) => error instanceof CommandError && /failed \(exit 2\): boom/.test(error.message));
  });

  it('reports a missing program as exit 127', async () => {
    const result = await execaRunner.run('dts-util-no-such-program', [], { reject: false });
    assert.equal(result.exitCode, 127);
    assert.match(result.stderr, /ENOENT/);
  });
});
