import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where dts-util keeps what it writes. */
export interface Paths {
  /** config.json lives here. */
  configDir: string;
  /** The per-install CA and the server certificate (0700; keys 0600). */
  tlsDir: string;
  /** Server logs written by the service manager. */
  logDir: string;
  /** The default models directory. */
  modelsDir: string;
}

/** Where a system-wide install (a system unit, run as root) keeps everything. */
export const SYSTEM_HOME = '/var/lib/dts-util';

/** Root with a system install finds it without DTS_UTIL_HOME (so `sudo dts-util test` just works). */
function systemInstallHome(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return fs.existsSync(path.join(SYSTEM_HOME, 'config.json')) ? SYSTEM_HOME : undefined;
}

/** Why resolvePaths picks its folders: DTS_UTIL_HOME, root finding the system install, or the platform's own for this user. */
export function pathsChosenBy(env: NodeJS.ProcessEnv = process.env): 'DTS_UTIL_HOME' | 'system install' | 'this user' {
  if (env.DTS_UTIL_HOME) return 'DTS_UTIL_HOME';
  return systemInstallHome() ? 'system install' : 'this user';
}

/**
 * Resolves the folders for this user and platform.
 *
 * DTS_UTIL_HOME moves everything under one folder (tests, containers). Otherwise the platform's
 * conventions: XDG base directories on Linux, ~/Library on macOS.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): Paths {
  const home = env.DTS_UTIL_HOME || systemInstallHome();
  if (home) {
    const root = path.resolve(home);
    return {
      configDir: root,
      tlsDir: path.join(root, 'tls'),
      logDir: path.join(root, 'logs'),
      modelsDir: path.join(root, 'models'),
    };
  }
  const userHome = env.HOME || os.homedir();
  if (platform === 'darwin') {
    const support = path.join(userHome, 'Library', 'Application Support', 'dts-util');
    return {
      configDir: support,
      tlsDir: path.join(support, 'tls'),
      logDir: path.join(userHome, 'Library', 'Logs', 'dts-util'),
      modelsDir: path.join(support, 'models'),
    };
  }
  const xdg = (name: string, fallback: string) => path.join(env[name] || path.join(userHome, fallback), 'dts-util');
  const configDir = xdg('XDG_CONFIG_HOME', '.config');
  return {
    configDir,
    tlsDir: path.join(configDir, 'tls'),
    logDir: xdg('XDG_STATE_HOME', path.join('.local', 'state')),
    modelsDir: path.join(xdg('XDG_DATA_HOME', path.join('.local', 'share')), 'models'),
  };
}
