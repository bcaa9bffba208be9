import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { UsageError } from '../config/errors.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { isInside } from '../util/path-inside.js';
import { launchdLabel, launchdLogFiles, systemdUnitName, type ServicePlan } from './plan.js';

/*
 * Service files are rendered from templates/ with {{placeholders}}. A line that holds nothing but
 * a placeholder whose value is empty disappears, so optional directives (User=, Environment=)
 * leave no blank line behind. Every value is escaped for the file's syntax here, never in the
 * template.
 */

/** The systemd unit for a plan. Secrets stay out: the unit only names the secrets file. */
export function renderSystemdUnit(plan: ServicePlan): string {
  checkPlan(plan);
  const system = plan.scope === 'system';
  return fillTemplate(readTemplate('systemd.service'), {
    unitName: systemdUnitName(plan),
    name: plan.name,
    documentation: systemdSpecifiers(pathToFileURL(path.join(path.dirname(path.dirname(plan.entryPoint)), 'README.md')).href),
    // network-online.target exists only in the system manager; a user manager cannot order
    // against it, so a user unit would carry a dependency that silently means nothing.
    networkDependencies: system ? 'Wants=network-online.target\nAfter=network-online.target' : '',
    user: system && plan.user ? `User=${systemdUserName(plan.user)}` : '',
    execStart: [systemdWord(plan.nodePath), ...[plan.entryPoint, 'serve'].map((word) => systemdWord(word, { execArgument: true }))].join(' '),
    workingDirectory: systemdPathValue(plan.configDir),
    environment: Object.entries(plan.environment)
      .map(([key, value]) => `Environment=${systemdWord(`${key}=${value}`)}`)
      .join('\n'),
    environmentFile: systemdPathValue(plan.secretsFile),
    protectHome: protectHomeMode(plan),
    readWritePaths: writablePaths(plan)
      .map((dir) => systemdWord(`-${dir}`))
      .join(' '),
    wantedBy: system ? 'multi-user.target' : 'default.target',
  });
}

/** The launchd plist for a plan. launchd has no environment file: the server reads secrets.env itself. */
export function renderLaunchdPlist(plan: ServicePlan): string {
  checkPlan(plan);
  const logs = launchdLogFiles(plan);
  const entry = (key: string, value: string, indent: string) => `${indent}<key>${xml(key)}</key>\n${indent}<string>${xml(value)}</string>`;
  return fillTemplate(readTemplate('launchd.plist'), {
    label: xml(launchdLabel(plan)),
    userName: plan.scope === 'system' && plan.user ? entry('UserName', plan.user, '  ') : '',
    nodePath: xml(plan.nodePath),
    entryPoint: xml(plan.entryPoint),
    environment: Object.entries(plan.environment)
      .map(([key, value]) => entry(key, value, '    '))
      .join('\n'),
    workingDirectory: xml(plan.configDir),
    stdoutPath: xml(logs.stdout),
    stderrPath: xml(logs.stderr),
  });
}

function readTemplate(file: string): string {
  return fs.readFileSync(path.join(PACKAGE_ROOT, 'templates', file), 'utf8');
}

/** Replaces {{key}} with values[key]; an unknown placeholder is a bug in the template, so it throws. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  const lookup = (key: string): string => {
    const value = values[key];
    if (value === undefined) throw new Error(`template placeholder {{${key}}} has no value`);
    return value;
  };
  return template
    .split('\n')
    .filter((line) => {
      const only = /^\s*\{\{(\w+)\}\}\s*$/.exec(line);
      return !(only?.[1] && lookup(only[1]) === '');
    })
    .map((line) => line.replace(/\{\{(\w+)\}\}/g, (_match, key: string) => lookup(key)))
    .join('\n');
}

/** Variables that look like secrets must go to the secrets file, never into a service definition. */
const SECRET_LIKE = /SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL/i;

function checkPlan(plan: ServicePlan): void {
  for (const [label, value] of Object.entries({
    nodePath: plan.nodePath,
    entryPoint: plan.entryPoint,
    secretsFile: plan.secretsFile,
    configDir: plan.configDir,
    tlsDir: plan.tlsDir,
    logDir: plan.logDir,
    modelsDir: plan.modelsDir,
  })) {
    if (!path.isAbsolute(value)) throw new Error(`service plan: ${label} must be an absolute path, not ${JSON.stringify(value)}`);
    checkCharacters(value, label);
  }
  for (const [key, value] of Object.entries(plan.environment)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`invalid environment variable name ${JSON.stringify(key)}`);
    if (SECRET_LIKE.test(key)) throw new Error(`service plan: ${key} looks like a secret; secrets belong in the secrets file, not the service definition`);
    checkCharacters(value, key);
  }
}

/** Control characters would start a new directive (systemd) or are not allowed in XML at all. */
function checkCharacters(value: string, label: string): void {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new UsageError(`${label} contains a control character (a line break?): ${JSON.stringify(value)}`, 'use a path without control characters');
}

// ── systemd syntax (systemd.syntax(7), systemd.service(5) "Command lines", systemd.unit(5) "Specifiers")

/** `%` starts a specifier (%h, %n …) in nearly every directive; `%%` is a literal percent sign. */
function systemdSpecifiers(value: string): string {
  return value.replace(/%/g, '%%');
}

/**
 * One word of a space-separated directive (ExecStart=, Environment=, ReadWritePaths=): bare when
 * it needs no quoting, else in double quotes. A command line's arguments expand `$VAR`, so `$` is
 * doubled there; its program path is executed as written (only argv[0], a copy, is expanded), so
 * not there. Quotes and backslashes are refused rather than escaped: ReadWritePaths= keeps
 * backslash escapes as they are, so no escaping would read the same in every directive.
 */
function systemdWord(value: string, options: { execArgument?: boolean } = {}): string {
  if (/["\\]/.test(value)) throw new UsageError(`${JSON.stringify(value)} contains a quote or a backslash, which a systemd unit cannot carry reliably`, 'use a path without " or \\');
  let text = systemdSpecifiers(value);
  if (options.execArgument) text = text.replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%$+=:,./-]+$/.test(text) ? text : `"${text}"`;
}

/** Directives that take one whole path (WorkingDirectory=, EnvironmentFile=): no quoting, spaces kept. */
function systemdPathValue(value: string): string {
  if (value !== value.trim()) throw new UsageError(`${JSON.stringify(value)} begins or ends with white space, which systemd strips`);
  return systemdSpecifiers(value);
}

function systemdUserName(user: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(user)) throw new UsageError(`invalid user name ${JSON.stringify(user)}`);
  return user;
}

/**
 * The folders the server writes to: config (config.json, secrets.env), logs, models, and the TLS
 * folder when it is not inside the config folder. Folders inside another listed one are dropped.
 */
export function writablePaths(plan: ServicePlan): string[] {
  const candidates = [plan.configDir, plan.tlsDir, plan.logDir, plan.modelsDir].map((dir) => path.resolve(dir));
  const unique = [...new Set(candidates)];
  return unique.filter((dir) => !unique.some((other) => other !== dir && isInside(other, dir)));
}

/**
 * ProtectHome=yes hides /home, /root and /run/user. A user unit's folders (and often Node and the
 * package) live there, and so may a system unit's when installed from a home folder: then the
 * homes stay readable (read-only) and ReadWritePaths= reopens the tool's own folders for writing.
 */
function protectHomeMode(plan: ServicePlan): 'yes' | 'read-only' {
  if (plan.scope === 'user') return 'read-only';
  const homes = ['/home', '/root', '/run/user'];
  const used = [plan.nodePath, plan.entryPoint, plan.secretsFile, ...(plan.readFiles ?? []), ...writablePaths(plan)].flatMap((p) => [p, realPath(p)]);
  return used.some((p) => homes.some((home) => isInside(home, p))) ? 'read-only' : 'yes';
}

/** Where a symbolic link (a node in /usr/local/bin from a home's version manager) really leads. */
function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

// ── plist (XML) syntax

function xml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
