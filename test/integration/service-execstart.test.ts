import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { resolvePaths } from '../../src/config/paths.js';
import type { ServicePlan } from '../../src/service/plan.js';
import { renderLaunchdPlist, renderSystemdUnit } from '../../src/service/render.js';
import { BIN, runCli } from '../helpers/cli.js';
import { commandFromPlist, commandFromUnit, runService, type UnitCommand } from '../helpers/unit-command.js';
import { freePort } from '../helpers/ports.js';

/*
 * The proof that a rendered service definition starts a healthy server: the command line,
 * environment and working directory are read back out of the unit (as systemd parses it) and the
 * plist (as launchd reads it), and run exactly so. Nothing is hand-built, so a quoting or escaping
 * mistake in the renderer shows up here as a server that does not start or does not answer.
 */

const SECRET = 'execstart-secret-3b7c1d';
const temporaries: string[] = [];
after(() => temporaries.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaries.push(dir);
  return dir;
}


/**
 * An install as `dts-util install` leaves it, in a DTS_UTIL_HOME whose name has a space, `%` and
 * `$` (each means something in a unit), with Node reached through such a folder too.
 */
async function makeInstall(manager: 'systemd' | 'launchd'): Promise<{ plan: ServicePlan; home: string; port: number }> {
  const home = tempDir('dts-util execstart 100% $HOME ');
  const paths = resolvePaths({ DTS_UTIL_HOME: home });
  const port = await freePort();
  fs.chmodSync(home, 0o700);
  fs.mkdirSync(paths.modelsDir, { recursive: true });
  fs.writeFileSync(path.join(home, 'config.json'), `${JSON.stringify({ port })}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(home, 'secrets.env'), `# dts-util secrets\nDTS_UTIL_SHARED_SECRET=${SECRET}\n`, { mode: 0o600 });
  const nodeDir = path.join(home, 'node 50% $PATH');
  fs.mkdirSync(nodeDir);
  fs.symlinkSync(process.execPath, path.join(nodeDir, 'node'));
  const plan: ServicePlan = {
    name: 'dts-util',
    manager,
    scope: 'user',
    nodePath: path.join(nodeDir, 'node'),
    entryPoint: BIN,
    environment: { DTS_UTIL_HOME: home },
    secretsFile: path.join(home, 'secrets.env'),
    ...paths,
  };
  return { plan, home, port };
}

// ── reading a unit back the way systemd does (systemd.syntax(7), systemd.service(5))

/** The service answers over TLS with the secret, refuses a client without it, and stops cleanly on SIGTERM. */
async function assertHealthyService(command: UnitCommand, install: { home: string; port: number }, secretFrom: RegExp): Promise<void> {
  const service = runService(command);
  try {
    const listening = await service.waitForLine((line) => line.msg === 'dts-util server listening');
    assert.equal(listening.tls, true);
    assert.match(String(listening.authentication), secretFrom);
    assert.ok(!JSON.stringify(listening).includes(SECRET), 'the start-up log shows the secret');

    const healthy = await runCli(['test', '--json', '--port', String(install.port)], { DTS_UTIL_HOME: install.home, DTS_UTIL_SHARED_SECRET: SECRET });
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    const report = JSON.parse(healthy.stdout) as { healthy: boolean; tls: boolean; address: string };
    assert.equal(report.healthy, true);
    assert.equal(report.tls, true);
    assert.equal(report.address, `127.0.0.1:${install.port}`);

    // A client with the install's CA but no secret: another DTS_UTIL_HOME, so it cannot read secrets.env either.
    const anonymous = await runCli(['test', '--json', '--port', String(install.port), '--ca', path.join(install.home, 'tls', 'ca.pem')], {
      DTS_UTIL_HOME: tempDir('dts-util-client-'),
      DTS_UTIL_SHARED_SECRET: '',
    });
    assert.equal(anonymous.code, 1, anonymous.stdout + anonymous.stderr);
    assert.equal((JSON.parse(anonymous.stdout) as { healthy: boolean }).healthy, false);
    assert.match(anonymous.stdout, /UNAUTHENTICATED/);
  } finally {
    service.child.kill('SIGTERM');
  }
  assert.equal(await service.exited, 0, 'SIGTERM (systemd KillSignal=, launchd bootout) ends it with status 0');
}

describe('the rendered service definitions start a healthy server', () => {
  it("the systemd unit's ExecStart=, Environment= and EnvironmentFile=", async () => {
    const install = await makeInstall('systemd');
    const unit = renderSystemdUnit(install.plan);
    assert.ok(!unit.includes(SECRET));
    const command = commandFromUnit(unit);
    assert.deepEqual(command.argv, [install.plan.nodePath, BIN, 'serve']);
    assert.equal(command.environment.DTS_UTIL_SHARED_SECRET, SECRET, 'the secret comes from the EnvironmentFile');
    // The secret reaches the server through the environment systemd builds from the EnvironmentFile.
    await assertHealthyService(command, install, /from environment/);
  });

  it("the launchd plist's ProgramArguments and EnvironmentVariables", async () => {
    const install = await makeInstall('launchd');
    const plist = renderLaunchdPlist(install.plan);
    assert.ok(!plist.includes(SECRET));
    const command = await commandFromPlist(plist);
    assert.deepEqual(command.argv, [install.plan.nodePath, BIN, 'serve']);
    assert.deepEqual(command.environment, { DTS_UTIL_HOME: install.home }, 'no secret in the environment');
    // launchd has no environment file: the server reads secrets.env from its config folder itself.
    await assertHealthyService(command, install, /from secrets file/);
  });
});
