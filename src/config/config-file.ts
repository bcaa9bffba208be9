import fs from 'node:fs';
import path from 'node:path';

import { ensurePrivateDir, writeFileAtomic } from '../tls/files.js';
import { UsageError } from './errors.js';

/** Server choices kept under the same name and type as a `serve` flag and a config.json key. */
export interface ServerChoices {
  defaultModel?: string;
  maxQueue?: number;
  device?: string;
  gpu?: number;
  /** One generation worker per listed CUDA device id (`--gpus 0,1,2,3`). */
  gpus?: string;
  /** Generation workers per device (`--workers N`): two jobs at once on a GPU big enough, or on the CPU. */
  workers?: number;
  deviceFallback?: boolean;
  directIo?: boolean;
  /** Fuse plain exports' attention (and more) for the device at a model's first load (`--no-graph-optimize`). */
  graphOptimize?: boolean;
  metrics?: boolean;
  /** Advertise `_dt-grpc._tcp` over mDNS when listening beyond loopback (`--no-bonjour`). */
  bonjour?: boolean;
  /** Seconds an upload may receive nothing before it is ended (`--upload-idle-timeout`). */
  uploadIdleTimeout?: number;
  /** Uploads received at once; more are refused with RESOURCE_EXHAUSTED (`--max-concurrent-uploads`). */
  maxConcurrentUploads?: number;
}

/** config.json: the non-secret settings an install chose. Every key is optional. */
export interface ConfigFile extends ServerChoices {
  port?: number;
  host?: string;
  modelPath?: string;
  tls?: boolean;
  maxUploadBytes?: number;
  /** "80%" of RAM or a size ("12GiB"); a number is bytes. */
  memoryBudget?: string | number;
  /** A certificate chain and key from elsewhere (Let's Encrypt), served instead of the install's own CA's (`--tls-cert`, `--tls-key`). */
  tlsCert?: string;
  tlsKey?: string;
  /** The HAProxy agent check's TCP port (`--agent-port`). */
  agentPort?: number;
  /** Draw Things app model file names → local models (`dts-util models alias`; src/models/aliases.ts). */
  modelAliases?: Record<string, string>;
}

export const CONFIG_FILE_NAME = 'config.json';
/** KEY=VALUE lines, mode 0600: the only place secrets are stored. */
export const SECRETS_FILE_NAME = 'secrets.env';

export function readConfigFile(configDir: string): ConfigFile {
  const file = path.join(configDir, CONFIG_FILE_NAME);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as ConfigFile;
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON (${(error as Error).message})`, 'fix or delete it');
  }
}

/** config.json: non-secret settings (0600 all the same: the folder is private anyway). */
export function writeConfig(configDir: string, config: ConfigFile): string {
  ensurePrivateDir(configDir);
  const file = path.join(configDir, CONFIG_FILE_NAME);
  writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  return file;
}

/** Reads secrets.env (missing → empty). Values are never logged by callers. */
export function readSecretsFile(configDir: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(path.join(configDir, SECRETS_FILE_NAME), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const secrets: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z0-9_]+)\s*=(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) secrets[match[1]] = match[2].trim();
  }
  return secrets;
}
