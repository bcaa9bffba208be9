import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, describe, it } from 'node:test';

import { execa } from 'execa';

import { resolvePaths } from '../../src/config/paths.js';
import type { ServicePlan } from '../../src/service/plan.js';
import { renderLaunchdPlist, renderSystemdUnit } from '../../src/service/render.js';
import { BIN, runCli } from '../helpers/cli.js';

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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
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

interface UnitCommand {
  argv: string[];
  environment: Record<string, string>;
  cwd: string | undefined;
}

/** Reads [Service]'s ExecStart=, Environment=, EnvironmentFile= and WorkingDirectory=. Fails on any syntax this reader does not implement. */
function commandFromUnit(unit: string): UnitCommand {
  const service = new Map<string, string[]>();
  let section = '';
  for (const line of unit.split('\n')) {
    if (/^\s*([#;]|$)/.test(line)) continue;
    if (line.endsWith('\\')) throw new Error(`continuation lines are not implemented: ${line}`);
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1];
      continue;
    }
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) throw new Error(`unreadable unit line: ${line}`);
    if (section === 'Service') service.set(match[1], [...(service.get(match[1]) ?? []), match[2]]);
  }
  const [execStart, ...more] = service.get('ExecStart') ?? [];
  assert.ok(execStart !== undefined && more.length === 0, 'exactly one ExecStart=');
  const [program, ...args] = splitWords(execStart);
  assert.ok(program && /^\//.test(program), `ExecStart= begins with an absolute path without a prefix: ${execStart}`);
  const environment: Record<string, string> = {};
  for (const file of service.get('EnvironmentFile') ?? []) {
    const optional = file.startsWith('-');
    const name = specifiers(optional ? file.slice(1) : file);
    if (optional && !fs.existsSync(name)) continue;
    Object.assign(environment, readEnvironmentFile(name));
  }
  for (const value of service.get('Environment') ?? []) {
    for (const word of splitWords(value).map(specifiers)) {
      const eq = word.indexOf('=');
      assert.ok(eq > 0, `Environment= word without "=": ${word}`);
      environment[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  const workingDirectory = service.get('WorkingDirectory')?.[0];
  return {
    // The program path is executed as written; the arguments get $VAR substitution, so $$ is a dollar sign.
    argv: [specifiers(program), ...args.map((arg) => dollars(specifiers(arg)))],
    environment,
    cwd: workingDirectory === undefined ? undefined : specifiers(workingDirectory.replace(/^-/, '')),
  };
}

/** Splits on white space, honouring double and single quotes and backslash escapes. */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const next = text[++i];
      if (next === undefined || /[a-z0-9]/i.test(next)) throw new Error(`escape \\${next ?? ''} is not implemented`);
      word = (word ?? '') + next;
    } else if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  assert.equal(quote, undefined, `unterminated quote in ${text}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** `%%` is a percent sign; any other specifier is something this reader does not implement. */
function specifiers(text: string): string {
  return text.replace(/%(.)/g, (_m, c: string) => {
    if (c !== '%') throw new Error(`specifier %${c} is not implemented`);
    return '%';
  });
}

/** `$$` is a dollar sign; a `$VAR` substitution is something this reader does not implement. */
function dollars(text: string): string {
  return text.replace(/\$(.)/g, (_m, c: string) => {
    if (c !== '$') throw new Error(`variable substitution $${c}… is not implemented`);
    return '$';
  });
}

/** KEY=VALUE lines, # and ; comments, optional quotes around the value (systemd.exec(5) EnvironmentFile=). */
function readEnvironmentFile(file: string): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*([#;]|$)/.test(line)) continue;
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    assert.ok(match?.[1] && match[2] !== undefined, `unreadable environment file line in ${file}`);
    environment[match[1]] = match[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return environment;
}

// ── reading a plist back the way launchd does

async function commandFromPlist(text: string): Promise<UnitCommand> {
  const script = 'import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))';
  const plist = JSON.parse((await execa('/usr/bin/python3', ['-c', script], { input: text })).stdout) as {
    ProgramArguments: string[];
    EnvironmentVariables?: Record<string, string>;
    WorkingDirectory?: string;
  };
  return { argv: plist.ProgramArguments, environment: plist.EnvironmentVariables ?? {}, cwd: plist.WorkingDirectory };
}

// ── running it

interface RunningService {
  child: ChildProcess;
  exited: Promise<number | null>;
  waitForLine(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** Spawns exactly the service's command with exactly its environment, plus PATH and HOME as the manager gives them. */
function runService(command: UnitCommand): RunningService {
  const [program, ...args] = command.argv;
  assert.ok(program);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.homedir(), ...command.environment };
  const child = spawn(program, args, { env, cwd: command.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const lineReader = readline.createInterface({ input: child.stdout! });
  lineReader.on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      lines.push({ text });
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLine = (match: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found) {
          lineReader.off('line', check);
          resolve(found);
        }
      };
      lineReader.on('line', check);
      void exited.then((code) => reject(new Error(`the service exited (${code}) before logging the line; stderr: ${stderr}; stdout: ${JSON.stringify(lines)}`)));
      check();
    });
  return { child, exited, waitForLine };
}

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
