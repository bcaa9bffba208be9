import os from 'node:os';
import path from 'node:path';

import { readConfigFile, readSecretsFile, type ServerChoices } from './config-file.js';
import { UsageError } from './errors.js';
import { readSecretFile } from './secret-file.js';
import { parseBoolean, parseByteSize, parsePort, parsePositiveInteger } from './parse.js';
import { resolvePaths, type Paths } from './paths.js';

export const DEFAULT_PORT = 7859;
export const DEFAULT_MAX_UPLOAD_BYTES = 32 * 2 ** 30;
export const SECRET_ENV = 'DTS_UTIL_SHARED_SECRET';

/** What the user typed; undefined = not given. */
export interface ConnectionFlags {
  /** Only `serve` and `install` take it as a flag; clients read it from config.json or the environment. */
  tlsCert?: string;
  port?: number;
  host?: string;
  tls?: boolean;
  sharedSecret?: string;
  sharedSecretFile?: string;
}

export interface ServerFlags extends ConnectionFlags, ServerChoices {
  modelPath?: string;
  tlsKey?: string;
  maxUploadSize?: string;
  datadogApiKey?: string;
  memoryBudget?: string;
  agentPort?: number;
}

/** Datadog's own variable for the API key; secrets.env keeps it under the same name. */
export const DATADOG_KEY_ENV = 'DD_API_KEY';

export const DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export const DEFAULT_MAX_QUEUE = 16;
/** Long enough for a client between files or on a slow link; short enough that stalled uploads do not pile up. */
export const DEFAULT_UPLOAD_IDLE_TIMEOUT_SECONDS = 60;
/** Twice what `models upload` opens (8 streams), so two clients fit; each holds a file descriptor and a staging file. */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 16;
/** Room for the OS and the server itself beside the models, on a machine that does nothing else. */
export const DEFAULT_MEMORY_BUDGET = '80%';

export interface ConnectionSettings {
  paths: Paths;
  port: number;
  /** undefined = loopback (127.0.0.1 and ::1). */
  host: string | undefined;
  tls: boolean;
  sharedSecret: string | undefined;
  /** Where the secret came from, for the start-up log (never the value). */
  secretSource: 'none' | 'argv' | 'environment' | 'file' | 'secrets file';
  /** The --shared-secret-file the secret was read from (the server warns when others can read it). */
  secretFile?: string | undefined;
  /**
   * A certificate chain from elsewhere (`--tls-cert`; absolute), served instead of one from the
   * install's CA. Clients on this machine trust the system's roots and it, and verify its name.
   */
  tlsCert: string | undefined;
}

export interface ServerSettings extends ConnectionSettings {
  /** The private key of tlsCert (`--tls-key`; absolute); set exactly when tlsCert is. */
  tlsKey: string | undefined;
  modelsDir: string;
  maxUploadBytes: number;
  /** Model for requests that name none; undefined = the only installed one. */
  defaultModel: string | undefined;
  /** Generations allowed to wait behind the running one. */
  maxQueue: number;
  /** Execution provider preference: auto (CUDA when installed, else CPU), cpu, cuda, webgpu. */
  device: string;
  /** Which GPU (CUDA device id) when there are several. */
  gpu: number;
  /**
   * The CUDA device id of each generation worker, one entry per worker: `--gpus 0,1` gives one
   * per listed GPU, `--workers N` N per GPU (or N on the CPU). Default: one worker on `gpu`.
   */
  workerGpus: number[];
  /** A configured device that is not usable: run on the next usable one (true) or refuse to start. */
  deviceFallback: boolean;
  /** Uploads written with O_DIRECT where the models directory's filesystem takes it (else through the page cache). */
  directIo: boolean;
  /** Rewrite each model part for its device at first load (src/diffusion/optimized-graphs.ts), cached beside it. */
  graphOptimize: boolean;
  /** DogStatsD metrics to the local Datadog agent (DD_AGENT_HOST / DD_DOGSTATSD_*). */
  metrics: boolean;
  /** Advertise the server as `_dt-grpc._tcp` over mDNS (the Draw Things app's server browser) when it listens beyond loopback. */
  bonjour: boolean;
  /** Ships logs to Datadog's HTTP intake when set (no agent needed). Never logged. */
  datadogApiKey: string | undefined;
  /**
   * What loaded models plus a running generation's working memory may take, as configured ("80%",
   * "12GiB") and checked. The engine turns a percentage into bytes once it knows the device.
   */
  memoryBudget: string;
  /** Seconds an upload may receive nothing before it is ended with DEADLINE_EXCEEDED and discarded. */
  uploadIdleTimeout: number;
  /** Uploads received at once; one more is refused with RESOURCE_EXHAUSTED. */
  maxConcurrentUploads: number;
  /** The TCP port HAProxy's agent check reads "up" or "drain" from (src/server/agent-check.ts); undefined = none. */
  agentPort?: number | undefined;
}

/** Flag > environment variable > config.json > default, for everything client and server share. */
export function resolveConnectionSettings(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const paths = resolvePaths(env);
  const config = readConfigFile(paths.configDir);
  const port =
    flags.port ?? (env.DTS_UTIL_PORT ? parsePort(env.DTS_UTIL_PORT, 'DTS_UTIL_PORT') : undefined) ?? (config.port === undefined ? DEFAULT_PORT : parsePort(config.port, 'config.json'));
  const host = nonEmpty(flags.host) ?? nonEmpty(env.DTS_UTIL_HOST) ?? nonEmpty(config.host);
  const tls = flags.tls ?? (env.DTS_UTIL_TLS ? parseBoolean(env.DTS_UTIL_TLS, 'DTS_UTIL_TLS') : undefined) ?? config.tls ?? true;
  const { secret, source, file } = resolveSecret(flags, env, paths.configDir);
  const tlsCert = absolute(nonEmpty(flags.tlsCert) ?? nonEmpty(env.DTS_UTIL_TLS_CERT) ?? nonEmpty(config.tlsCert));
  return { paths, port, host, tls, sharedSecret: secret, secretSource: source, secretFile: file, tlsCert };
}

export function resolveServerSettings(flags: ServerFlags, env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const connection = resolveConnectionSettings(flags, env);
  const config = readConfigFile(connection.paths.configDir);
  const tlsKey = absolute(nonEmpty(flags.tlsKey) ?? nonEmpty(env.DTS_UTIL_TLS_KEY) ?? nonEmpty(config.tlsKey));
  if ((connection.tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new UsageError(`${connection.tlsCert ? '--tls-cert' : '--tls-key'} was given without ${connection.tlsCert ? '--tls-key' : '--tls-cert'}`, 'give both: the certificate chain (PEM) and its private key (PEM)');
  }
  const modelsDir = path.resolve(nonEmpty(flags.modelPath) ?? nonEmpty(env.DTS_UTIL_MODEL_PATH) ?? nonEmpty(config.modelPath) ?? connection.paths.modelsDir);
  const maxUploadBytes =
    flags.maxUploadSize !== undefined
      ? parseByteSize(flags.maxUploadSize, '--max-upload-size')
      : env.DTS_UTIL_MAX_UPLOAD_SIZE
        ? parseByteSize(env.DTS_UTIL_MAX_UPLOAD_SIZE, 'DTS_UTIL_MAX_UPLOAD_SIZE')
        : config.maxUploadBytes !== undefined
          ? parseByteSize(config.maxUploadBytes, 'config.json')
          : DEFAULT_MAX_UPLOAD_BYTES;
  const defaultModel = nonEmpty(flags.defaultModel) ?? nonEmpty(env.DTS_UTIL_DEFAULT_MODEL) ?? nonEmpty(config.defaultModel);
  const maxQueue = flags.maxQueue ?? (env.DTS_UTIL_MAX_QUEUE ? parseCount(env.DTS_UTIL_MAX_QUEUE, 'DTS_UTIL_MAX_QUEUE') : undefined) ?? config.maxQueue ?? DEFAULT_MAX_QUEUE;
  const device = nonEmpty(flags.device) ?? nonEmpty(env.DTS_UTIL_DEVICE) ?? nonEmpty(config.device) ?? 'auto';
  if (!(DEVICES as readonly string[]).includes(device)) throw new UsageError(`unknown device ${JSON.stringify(device)}`, `use one of ${DEVICES.join(', ')}`);
  const gpu = flags.gpu ?? (env.DTS_UTIL_GPU ? parseCount(env.DTS_UTIL_GPU, 'DTS_UTIL_GPU') : undefined) ?? config.gpu ?? 0;
  const gpus = gpuList(nonEmpty(flags.gpus) ?? nonEmpty(env.DTS_UTIL_GPUS) ?? nonEmpty(config.gpus), gpu);
  const perDevice = positiveSetting(flags.workers, '--workers', env, 'DTS_UTIL_WORKERS', config.workers, 'workers', 'workers') ?? 1;
  if (perDevice > MAX_WORKERS) throw new UsageError(`--workers ${perDevice} is more than ${MAX_WORKERS}`, 'each worker loads its own copy of the models: a few per GPU at most');
  const workerGpus = gpus.flatMap((id) => Array<number>(perDevice).fill(id));
  const deviceFallback =
    flags.deviceFallback ?? (env.DTS_UTIL_DEVICE_FALLBACK ? parseBoolean(env.DTS_UTIL_DEVICE_FALLBACK, 'DTS_UTIL_DEVICE_FALLBACK') : undefined) ?? config.deviceFallback ?? true;
  const directIo = flags.directIo ?? (env.DTS_UTIL_DIRECT_IO ? parseBoolean(env.DTS_UTIL_DIRECT_IO, 'DTS_UTIL_DIRECT_IO') : undefined) ?? config.directIo ?? true;
  const graphOptimize = flags.graphOptimize ?? (env.DTS_UTIL_GRAPH_OPTIMIZE ? parseBoolean(env.DTS_UTIL_GRAPH_OPTIMIZE, 'DTS_UTIL_GRAPH_OPTIMIZE') : undefined) ?? config.graphOptimize ?? true;
  const metrics = flags.metrics ?? (env.DTS_UTIL_METRICS ? parseBoolean(env.DTS_UTIL_METRICS, 'DTS_UTIL_METRICS') : undefined) ?? config.metrics ?? true;
  const bonjour = flags.bonjour ?? (env.DTS_UTIL_BONJOUR ? parseBoolean(env.DTS_UTIL_BONJOUR, 'DTS_UTIL_BONJOUR') : undefined) ?? config.bonjour ?? true;
  const datadogApiKey = nonEmpty(flags.datadogApiKey) ?? nonEmpty(env[DATADOG_KEY_ENV]) ?? nonEmpty(readSecretsFile(connection.paths.configDir)[DATADOG_KEY_ENV]);
  const memoryBudget = memoryBudgetSetting(flags, env, config.memoryBudget);
  const uploadIdleTimeout = positiveSetting(flags.uploadIdleTimeout, '--upload-idle-timeout', env, 'DTS_UTIL_UPLOAD_IDLE_TIMEOUT', config.uploadIdleTimeout, 'uploadIdleTimeout', 'seconds') ?? DEFAULT_UPLOAD_IDLE_TIMEOUT_SECONDS;
  const maxConcurrentUploads =
    positiveSetting(flags.maxConcurrentUploads, '--max-concurrent-uploads', env, 'DTS_UTIL_MAX_CONCURRENT_UPLOADS', config.maxConcurrentUploads, 'maxConcurrentUploads', 'uploads') ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
  const agentPort = flags.agentPort ?? (env.DTS_UTIL_AGENT_PORT ? parsePort(env.DTS_UTIL_AGENT_PORT, 'DTS_UTIL_AGENT_PORT') : undefined) ?? (config.agentPort === undefined ? undefined : parsePort(config.agentPort, 'config.json (agentPort)'));
  return { ...connection, agentPort, tlsKey, modelsDir, maxUploadBytes, defaultModel, maxQueue, device, gpu, deviceFallback, directIo, graphOptimize, metrics, bonjour, workerGpus, datadogApiKey, memoryBudget, uploadIdleTimeout, maxConcurrentUploads };
}

/** Flag > environment variable > config.json for a whole number, 1 or more; each checked, and named when it is wrong. */
function positiveSetting(flag: number | undefined, flagName: string, env: NodeJS.ProcessEnv, variable: string, fromConfig: unknown, configKey: string, unit: string): number | undefined {
  if (flag !== undefined) return parsePositiveInteger(flag, flagName, unit);
  if (env[variable]) return parsePositiveInteger(env[variable], variable, unit);
  if (fromConfig === undefined) return undefined;
  if (typeof fromConfig !== 'number' && typeof fromConfig !== 'string') return parsePositiveInteger(JSON.stringify(fromConfig), `config.json (${configKey})`, unit);
  return parsePositiveInteger(fromConfig, `config.json (${configKey})`, unit);
}

/** The budget as written, checked here so that a bad value is a usage error at start. */
function memoryBudgetSetting(flags: ServerFlags, env: NodeJS.ProcessEnv, fromConfig: string | number | undefined): string {
  const flag = nonEmpty(flags.memoryBudget);
  const fromEnv = nonEmpty(env.DTS_UTIL_MEMORY_BUDGET);
  const [spec, source] = flag
    ? [flag, '--memory-budget']
    : fromEnv
      ? [fromEnv, 'DTS_UTIL_MEMORY_BUDGET']
      : fromConfig !== undefined
        ? [String(fromConfig).trim(), 'config.json (memoryBudget)']
        : [DEFAULT_MEMORY_BUDGET, 'the default'];
  parseMemoryBudget(spec, source);
  return spec;
}

/** A memory budget in bytes: a share of `totalBytes` (RAM unless told otherwise) such as "80%", or a size ("12GiB", "8000MB"). */
export function parseMemoryBudget(value: string, source: string, totalBytes = os.totalmem()): number {
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(value.trim());
  if (!percent) {
    try {
      return parseByteSize(value, source);
    } catch {
      throw new UsageError(`invalid memory budget ${JSON.stringify(value)} from ${source}`, 'use a share of RAM such as 80% or a size such as 12GiB or 8000MB');
    }
  }
  const share = Number(percent[1]);
  if (share <= 0 || share > 100) throw new UsageError(`invalid memory budget ${JSON.stringify(value)} from ${source}`, 'a percentage must be more than 0% and at most 100%');
  return Math.floor((totalBytes * share) / 100);
}

function parseCount(value: string, source: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid count ${JSON.stringify(value)} from ${source}`, 'use a whole number, 0 or more');
  return n;
}

function resolveSecret(flags: ConnectionFlags, env: NodeJS.ProcessEnv, configDir: string): { secret: string | undefined; source: ConnectionSettings['secretSource']; file?: string } {
  if (flags.sharedSecret !== undefined) return { secret: checkSecret(flags.sharedSecret, '--shared-secret'), source: 'argv' };
  if (env[SECRET_ENV]) return { secret: checkSecret(env[SECRET_ENV], SECRET_ENV), source: 'environment' };
  if (flags.sharedSecretFile) return { secret: checkSecret(readSecretFile(flags.sharedSecretFile).trim(), '--shared-secret-file'), source: 'file', file: flags.sharedSecretFile };
  const stored = readSecretsFile(configDir)[SECRET_ENV];
  if (stored) return { secret: checkSecret(stored, 'secrets.env'), source: 'secrets file' };
  return { secret: undefined, source: 'none' };
}

function checkSecret(secret: string, source: string): string {
  // The secret travels as an HTTP/2 header value: printable ASCII only, no surrounding spaces.
  if (secret.length === 0 || !/^[\x21-\x7e]+$/.test(secret)) {
    throw new UsageError(`the shared secret from ${source} is empty or has characters other than printable ASCII`, 'use letters, digits and punctuation, no spaces');
  }
  return secret;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Workers one server may start per device. */
const MAX_WORKERS = 16;

/** "0,1,2,3" → [0, 1, 2, 3]: each a CUDA device id, none twice; none given → [gpu]. */
function gpuList(text: string | undefined, gpu: number): number[] {
  if (text === undefined) return [gpu];
  const ids = text.split(',').map((part) => part.trim());
  if (ids.some((id) => !/^\d{1,3}$/.test(id))) throw new UsageError(`--gpus ${JSON.stringify(text)} is not a list of GPU ids`, 'give CUDA device ids separated by commas, e.g. --gpus 0,1,2,3 (nvidia-smi -L lists them)');
  const unique = [...new Set(ids.map(Number))];
  if (unique.length !== ids.length) throw new UsageError(`--gpus ${text} names a GPU twice`, 'for two workers on one GPU use --workers 2');
  return unique;
}

/** A file named on the command line or in config.json, as an absolute path (a service runs elsewhere). */
function absolute(file: string | undefined): string | undefined {
  return file === undefined ? undefined : path.resolve(file);
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}
