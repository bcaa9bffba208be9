import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { readConfigFile, readSecretsFile, SECRETS_FILE_NAME, type ConfigFile } from '../config/config-file.js';
import { DATADOG_KEY_ENV, SECRET_ENV } from '../config/settings.js';
import { ensurePrivateDir, writeFileAtomic } from '../tls/files.js';


export interface InstallSecrets {
  sharedSecret?: string | undefined;
  datadogApiKey?: string | undefined;
}

/** A fresh shared secret: 256 bits, URL-safe, fit for an HTTP/2 header. */
export function generateSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** Whether writing `config` would change config.json (a re-run with the same flags changes nothing). */
export function configChanged(configDir: string, config: ConfigFile): boolean {
  return JSON.stringify(readConfigFile(configDir)) !== JSON.stringify(config);
}

export { writeConfig } from '../config/config-file.js';

/**
 * secrets.env (0600): the only file that holds the shared secret and the Datadog key. Values not
 * given this time are kept from the previous install; `undefined` never erases one.
 */
export function writeSecrets(configDir: string, secrets: InstallSecrets): { file: string; changed: boolean; values: Record<string, string> } {
  ensurePrivateDir(configDir);
  const file = path.join(configDir, SECRETS_FILE_NAME);
  const before = readSecretsFile(configDir);
  const values = { ...before };
  if (secrets.sharedSecret) values[SECRET_ENV] = secrets.sharedSecret;
  if (secrets.datadogApiKey) values[DATADOG_KEY_ENV] = secrets.datadogApiKey;
  const changed = JSON.stringify(before) !== JSON.stringify(values) || !fs.existsSync(file);
  const lines = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (changed) writeFileAtomic(file, `# dts-util secrets: read by the server only. Keep this file 0600.\n${lines.join('\n')}\n`, 0o600);
  return { file, changed, values };
}
