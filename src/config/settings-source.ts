import fs from 'node:fs';
import path from 'node:path';

import { CONFIG_FILE_NAME } from './config-file.js';
import { pathsChosenBy, type Paths } from './paths.js';

/** The config.json a command's settings fall back to, when there is one. */
export function settingsFile(paths: Paths): string | undefined {
  const file = path.join(paths.configDir, CONFIG_FILE_NAME);
  return fs.existsSync(file) ? file : undefined;
}

/**
 * One line saying which install's settings a command uses, when it picked them up without being
 * told: after `sudo dts-util install`, a plain `sudo dts-util test` reads the system install's
 * port, TLS and secret, and talks to that server rather than the one the user just started.
 * Nothing is said when DTS_UTIL_HOME chose the folder, or when there is no config.json.
 */
export function settingsNote(paths: Paths, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = settingsFile(paths);
  const chosenBy = pathsChosenBy(env);
  if (!file || chosenBy === 'DTS_UTIL_HOME') return undefined;
  const whose = chosenBy === 'system install' ? 'the system install, used because this runs as root' : "this user's install";
  return `using the settings in ${file} (${whose}); flags and DTS_UTIL_* variables override them, DTS_UTIL_HOME=DIR uses another folder`;
}
