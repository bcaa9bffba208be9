import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import readline from 'node:readline';

import { execa } from 'execa';

/*
 * Reading a rendered service definition back the way its manager does (systemd.syntax(7),
 * systemd.exec(5); launchd's plist), to run exactly its command line. A reader that meets syntax
 * it does not implement fails instead of guessing.
 */
export interface UnitCommand {
  argv: string[];
  environment: Record<string, string>;
  cwd: string | undefined;
}

/** Reads [Service]'s ExecStart=, Environment=, EnvironmentFile= and WorkingDirectory=. Fails on any syntax this reader does not implement. */
export function commandFromUnit(unit: string): UnitCommand {
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

export async function commandFromPlist(text: string): Promise<UnitCommand> {
  const script = 'import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))';
  const plist = JSON.parse((await execa('/usr/bin/python3', ['-c', script], { input: text })).stdout) as {
    ProgramArguments: string[];
    EnvironmentVariables?: Record<string, string>;
    WorkingDirectory?: string;
  };
  return { argv: plist.ProgramArguments, environment: plist.EnvironmentVariables ?? {}, cwd: plist.WorkingDirectory };
}

// ── running it

export interface RunningService {
  child: ChildProcess;
  exited: Promise<number | null>;
  waitForLine(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** Spawns exactly the service's command with exactly its environment, plus PATH and HOME as the manager gives them. */
export function runService(command: UnitCommand): RunningService {
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
