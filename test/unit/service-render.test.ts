import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { execa } from 'execa';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import type { ServicePlan } from '../../src/service/plan.js';
import { fillTemplate, renderLaunchdPlist, renderSystemdUnit, writablePaths } from '../../src/service/render.js';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'run.js');
const SECRET = 'render-test-secret-5f1e9a';
/** bin/run.js as a unit spells it: quoted only where this checkout's path needs it. */
const BIN_WORD = /^[\w@+=:,./-]+$/.test(BIN) ? BIN : `"${BIN}"`;
/** A system unit hides the homes unless it runs something from one (this checkout, say). */
const SYSTEM_PROTECT_HOME = /^\/(home|root)\//.test(fs.realpathSync(BIN)) ? 'read-only' : 'yes';

/**
 * A plan whose folders have spaces, `%` (a systemd specifier) and `$` (a command-line variable)
 * in their names, so every escaping rule is exercised. Node is reached through a symbolic link in
 * such a folder: systemd-analyze checks that ExecStart's program exists, which proves the quoted
 * path came through as one word, unexpanded.
 */
function makePlan(root: string, scope: 'user' | 'system'): ServicePlan {
  const home = path.join(root, 'dts home 100% $HOME');
  const nodeDir = path.join(root, 'node dir 50% $PATH');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(nodeDir, { recursive: true });
  const nodePath = path.join(nodeDir, 'node');
  if (!fs.existsSync(nodePath)) fs.symlinkSync(process.execPath, nodePath);
  const secretsFile = path.join(home, 'secrets.env');
  fs.writeFileSync(secretsFile, `DTS_UTIL_SHARED_SECRET=${SECRET}\nDD_API_KEY=${SECRET}-dd\n`, { mode: 0o600 });
  return {
    name: 'dts-util',
    manager: 'systemd',
    scope,
    nodePath,
    entryPoint: BIN,
    environment: { DTS_UTIL_HOME: home },
    secretsFile,
    configDir: home,
    tlsDir: path.join(home, 'tls'),
    logDir: path.join(home, 'logs'),
    modelsDir: path.join(root, 'models elsewhere'),
    ...(scope === 'system' ? { user: os.userInfo().username } : {}),
  };
}

/**
 * `systemd-analyze verify` loads the unit as the manager would and reports every unknown
 * directive, unparsable value and missing ExecStart program. For a user unit (--user) it sets up
 * a user manager's paths, which needs XDG_RUNTIME_DIR (the pam_systemd session gives it in real
 * life; here a private temporary folder stands in). No other flag is needed: the unit has no
 * man: documentation link for --man to check, and generators only add units from /etc/fstab and
 * the like, which does not change what is reported for this unit.
 */
async function verify(unitFile: string, scope: 'user' | 'system', runtimeDir: string) {
  const args = ['verify', ...(scope === 'user' ? ['--user'] : []), unitFile];
  return execa('systemd-analyze', args, { reject: false, env: { XDG_RUNTIME_DIR: runtimeDir }, stdin: 'ignore' });
}

/** What systemd's own security analysis (offline, from the file alone) says each directive does. */
async function securityFindings(unitFile: string, scope: 'user' | 'system', runtimeDir: string): Promise<Map<string, { set: boolean; description: string }>> {
  const args = ['security', '--offline=yes', '--json=short', ...(scope === 'user' ? ['--user'] : []), unitFile];
  const result = await execa('systemd-analyze', args, { env: { XDG_RUNTIME_DIR: runtimeDir }, stdin: 'ignore' });
  const findings = JSON.parse(result.stdout) as { name: string; set: boolean; description: string }[];
  return new Map(findings.map((f) => [f.name, f]));
}

function directives(unit: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) found.set(match[1], [...(found.get(match[1]) ?? []), match[2]]);
  }
  return found;
}

describe('systemd unit', () => {
  let root: string;
  let runtimeDir: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util render '));
    runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-runtime-'));
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(runtimeDir, { recursive: true, force: true });
  });

  for (const scope of ['user', 'system'] as const) {
    it(`a ${scope} unit passes systemd-analyze verify without a word`, async () => {
      const unit = renderSystemdUnit(makePlan(root, scope));
      const unitDir = path.join(root, `${scope} units`);
      fs.mkdirSync(unitDir, { recursive: true });
      const unitFile = path.join(unitDir, 'dts-util.service');
      fs.writeFileSync(unitFile, unit);
      const result = await verify(unitFile, scope, runtimeDir);
      assert.equal(result.stderr, '', unit);
      assert.equal(result.stdout, '');
      assert.equal(result.exitCode, 0);
    });

    it(`systemd-analyze verify does complain about a broken ${scope} unit (the silence above means something)`, async () => {
      const plan = makePlan(root, scope);
      const unitDir = path.join(root, `${scope} broken`);
      fs.mkdirSync(unitDir, { recursive: true });
      const unitFile = path.join(unitDir, 'dts-util.service');
      const broken = renderSystemdUnit({ ...plan, nodePath: path.join(root, 'no such node') }).replace('UMask=0077', 'UMask=0077\nProtectHome=sometimes');
      fs.writeFileSync(unitFile, broken);
      const result = await verify(unitFile, scope, runtimeDir);
      assert.match(result.stderr, /ProtectHome.*sometimes|sometimes.*ProtectHome|protect home value/i);
      assert.match(result.stderr, /no such node.*not executable/);
      assert.notEqual(result.exitCode, 0);
    });

    it(`systemd reads the ${scope} unit's hardening as meant`, async () => {
      const unitDir = path.join(root, `${scope} security`);
      fs.mkdirSync(unitDir, { recursive: true });
      const unitFile = path.join(unitDir, 'dts-util.service');
      fs.writeFileSync(unitFile, renderSystemdUnit(makePlan(root, scope)));
      const findings = await securityFindings(unitFile, scope, runtimeDir);
      assert.equal(findings.get('NoNewPrivileges=')?.set, true);
      assert.equal(findings.get('PrivateTmp=')?.set, true);
      assert.match(findings.get('ProtectSystem=')?.description ?? '', /strict read-only access/);
      // The user unit's own folders live in $HOME: read-only there (ReadWritePaths reopens them).
      // The system unit hides the homes entirely unless it runs something from one.
      const hidden = scope === 'system' && SYSTEM_PROTECT_HOME === 'yes';
      assert.match(findings.get('ProtectHome=')?.description ?? '', hidden ? /no access to home/ : /read-only access to home/);
    });

    it(`the ${scope} unit has every hardening directive, absolute paths and no secret`, () => {
      const plan = makePlan(root, scope);
      const unit = renderSystemdUnit(plan);
      const d = directives(unit);
      const one = (key: string) => {
        assert.equal(d.get(key)?.length, 1, `${key}= once in\n${unit}`);
        return d.get(key)![0]!;
      };
      assert.match(one('Description'), /dts-util/);
      assert.match(one('Documentation'), /^file:\/\/\/.+\/README\.md$/);
      assert.equal(one('Type'), 'exec');
      assert.equal(one('ExecStart'), `"${plan.nodePath.replace(/%/g, '%%')}" ${BIN_WORD} serve`);
      assert.equal(one('Environment'), `"DTS_UTIL_HOME=${plan.configDir.replace(/%/g, '%%')}"`);
      assert.equal(one('EnvironmentFile'), `-${plan.secretsFile.replace(/%/g, '%%')}`);
      assert.equal(one('WorkingDirectory'), `-${plan.configDir.replace(/%/g, '%%')}`);
      assert.equal(one('Restart'), 'on-failure');
      assert.match(one('RestartSec'), /^\d+$/);
      assert.equal(one('NoNewPrivileges'), 'yes');
      assert.equal(one('ProtectSystem'), 'strict');
      assert.equal(one('PrivateTmp'), 'yes');
      assert.equal(one('ProtectHome'), scope === 'user' ? 'read-only' : SYSTEM_PROTECT_HOME);
      assert.equal(one('UMask'), '0077');
      assert.equal(one('KillSignal'), 'SIGTERM');
      assert.equal(one('KillMode'), 'mixed', 'SIGTERM to the server only: its worker must live to finish the running generation');
      assert.ok(Number(one('TimeoutStopSec')) > 30, 'longer than the 30 s grace period');
      // Config (with tls and logs inside it) and the models folder, which lives elsewhere.
      assert.equal(one('ReadWritePaths'), `"-${plan.configDir.replace(/%/g, '%%')}" "-${plan.modelsDir}"`);
      assert.equal(one('WantedBy'), scope === 'user' ? 'default.target' : 'multi-user.target');
      if (scope === 'system') {
        assert.equal(one('User'), os.userInfo().username);
        assert.equal(one('Wants'), 'network-online.target');
        assert.equal(one('After'), 'network-online.target');
      } else {
        for (const key of ['User', 'Wants', 'After']) assert.equal(d.get(key), undefined, `${key}= in a user unit`);
      }
      assert.ok(!unit.includes(SECRET), 'the unit holds a secret');
      assert.ok(!unit.includes('\n\n\n'), 'no double blank lines from empty placeholders');
    });
  }

  it('lists the TLS and log folders separately when they are outside the config folder', () => {
    const plan = { ...makePlan(root, 'user'), tlsDir: '/srv/tls', logDir: '/var/log/dts-util', modelsDir: '/srv/models' };
    assert.deepEqual(writablePaths(plan), [plan.configDir, '/srv/tls', '/var/log/dts-util', '/srv/models']);
    assert.match(renderSystemdUnit(plan), /^ReadWritePaths=".+" -\/srv\/tls -\/var\/log\/dts-util -\/srv\/models$/m);
  });

  it("counts a folder named '..models' inside the config folder as inside it (one containment rule)", () => {
    const plan = { ...makePlan(root, 'user'), tlsDir: '/srv/tls', logDir: '/srv/..logs', modelsDir: '/srv/tls/..models' };
    assert.deepEqual(writablePaths({ ...plan, configDir: '/srv' }), ['/srv']);
  });

  it('keeps homes readable in a system unit whose files live in a home folder', () => {
    const plan = { ...makePlan(root, 'system'), modelsDir: '/home/alice/models' };
    assert.match(renderSystemdUnit(plan), /^ProtectHome=read-only$/m);
  });

  it('refuses what a unit cannot carry safely', () => {
    const plan = makePlan(root, 'user');
    assert.throws(() => renderSystemdUnit({ ...plan, name: '../evil' }), /invalid service name/);
    assert.throws(() => renderSystemdUnit({ ...plan, environment: { DTS_UTIL_SHARED_SECRET: SECRET } }), /looks like a secret/);
    assert.throws(() => renderSystemdUnit({ ...plan, environment: { DD_API_KEY: 'x' } }), /looks like a secret/);
    assert.throws(() => renderSystemdUnit({ ...plan, configDir: '/tmp/a\nExecStartPre=/bin/evil' }), /control character/);
    assert.throws(() => renderSystemdUnit({ ...plan, modelsDir: '/tmp/"quoted"' }), /quote or a backslash/);
    assert.throws(() => renderSystemdUnit({ ...plan, nodePath: 'node' }), /absolute path/);
  });
});

describe('launchd plist', () => {
  let root: string;
  before(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util plist '))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Apple's format as Python's plistlib reads it: proves the XML is well-formed and typed right. */
  async function parsePlist(text: string): Promise<Record<string, unknown>> {
    const script = 'import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))';
    const result = await execa('/usr/bin/python3', ['-c', script], { input: text });
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  it('has the label, program, environment, restart policy and log files, XML-escaped', async () => {
    const home = path.join(root, `A & B <"quoted"> 'it''s' 100%`);
    const plan: ServicePlan = {
      ...makePlan(root, 'user'),
      manager: 'launchd',
      environment: { DTS_UTIL_HOME: home },
      configDir: home,
      tlsDir: path.join(home, 'tls'),
      logDir: path.join(home, 'logs'),
      modelsDir: path.join(home, 'models'),
      secretsFile: path.join(root, 'dts home 100% $HOME', 'secrets.env'),
    };
    const text = renderLaunchdPlist(plan);
    assert.deepEqual(await parsePlist(text), {
      Label: 'com.dts-util.dts-util',
      ProgramArguments: [plan.nodePath, BIN, 'serve'],
      EnvironmentVariables: { DTS_UTIL_HOME: home },
      WorkingDirectory: home,
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 5,
      ExitTimeOut: 45,
      ProcessType: 'Interactive',
      Umask: 0o077,
      StandardOutPath: path.join(home, 'logs', 'dts-util.log'),
      StandardErrorPath: path.join(home, 'logs', 'dts-util.err.log'),
    });
    assert.ok(!text.includes(SECRET), 'the plist holds a secret');
  });

  it('runs a LaunchDaemon as the chosen user, and a plan without variables gets an empty dictionary', async () => {
    const plan: ServicePlan = { ...makePlan(root, 'system'), manager: 'launchd', user: '_dtsutil', environment: {} };
    const parsed = await parsePlist(renderLaunchdPlist(plan));
    assert.equal(parsed.UserName, '_dtsutil');
    assert.deepEqual(parsed.EnvironmentVariables, {});
    assert.equal((await parsePlist(renderLaunchdPlist({ ...plan, scope: 'user' }))).UserName, undefined);
  });
});

describe('fillTemplate', () => {
  it('fills placeholders and drops lines whose only placeholder is empty', () => {
    assert.equal(fillTemplate('a={{a}}\n{{optional}}\nb={{b}}{{b}}', { a: '1', optional: '', b: 'x' }), 'a=1\nb=xx');
  });

  it('refuses a placeholder without a value', () => {
    assert.throws(() => fillTemplate('x={{missing}}', {}), /\{\{missing\}\}/);
  });
});
