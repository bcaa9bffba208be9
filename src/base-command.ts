import { Command, Errors, Flags } from '@oclif/core';

import { UsageError } from './config/errors.js';
import type { Paths } from './config/paths.js';
import { settingsNote } from './config/settings-source.js';
import type { ConnectionFlags, ServerFlags } from './config/settings.js';

interface ServerFlagValues {
  host?: string;
  port?: number;
  tls?: boolean;
  'shared-secret'?: string;
  'shared-secret-file'?: string;
  'model-path'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'max-upload-size'?: string;
  'default-model'?: string;
  'max-queue'?: number;
  device?: string;
  gpu?: number;
  gpus?: string;
  workers?: number;
  'device-fallback'?: boolean;
  'direct-io'?: boolean;
  'graph-optimize'?: boolean;
  metrics?: boolean;
  bonjour?: boolean;
  'datadog-api-key'?: string;
  'memory-budget'?: string;
  'upload-idle-timeout'?: number;
  'max-concurrent-uploads'?: number;
  'agent-port'?: number;
}

/** A decimal number flag: "abc" or "" is refused while parsing (exit 2, as oclif's integer flags), not sent as NaN. */
export const decimalFlag = Flags.custom<number>({
  async parse(input) {
    const value = Number(input);
    if (input.trim() === '' || !Number.isFinite(value)) throw new Errors.CLIError(`expected a number, got ${JSON.stringify(input)}`, { exit: 2 });
    return value;
  },
});

/**
 * What every command shares: --json, the connection flags, and one catch() that turns a
 * UsageError into exit status 2 with a suggested fix (a JSON error object under --json).
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static connectionFlags = {
    host: Flags.string({ description: "the server's address (default: the configured server on this machine) [env: DTS_UTIL_HOST]" }),
    port: Flags.integer({ description: 'TCP port (default: 7859) [env: DTS_UTIL_PORT]', min: 0, max: 65535 }),
    tls: Flags.boolean({ description: 'use TLS; --no-tls for plaintext (default: on) [env: DTS_UTIL_TLS]', allowNo: true }),
    'shared-secret': Flags.string({
      description:
        "shared secret for authentication; visible to other users in `ps` (through npx, npm's own process keeps it in its command line while dts-util runs): prefer the env variable or --shared-secret-file [env: DTS_UTIL_SHARED_SECRET]",
    }),
    // Not `exists: true`: oclif's own check exits 1 with a raw parse error; readSecretFile() says what is wrong (exit 2).
    'shared-secret-file': Flags.file({ description: 'read the shared secret from this file' }),
  };

  /** `--host` of the commands that reach several servers at once (`models upload`, `models pull --remote`); see fleet.ts. */
  static fleetHostFlag = {
    host: Flags.string({
      multiple: true,
      description:
        "the server's address (default: the configured server on this machine); repeat it, or give a comma list, for several servers, each HOST or HOST:PORT [env: DTS_UTIL_HOST]",
    }),
  };

  /** What `serve` accepts and `install` writes into the service's configuration. */
  static serverFlags = {
    ...BaseCommand.connectionFlags,
    host: Flags.string({ description: 'address to listen on, e.g. 0.0.0.0 for every interface (default: loopback only, 127.0.0.1 and ::1) [env: DTS_UTIL_HOST]' }),
    'model-path': Flags.string({ description: 'models directory [env: DTS_UTIL_MODEL_PATH]' }),
    'tls-cert': Flags.string({
      description: "serve this certificate chain (PEM, e.g. Let's Encrypt's fullchain.pem) instead of one from the install's own CA; needs --tls-key [env: DTS_UTIL_TLS_CERT]",
    }),
    'tls-key': Flags.string({ description: "the private key (PEM) of --tls-cert; readable by the server only [env: DTS_UTIL_TLS_KEY]" }),
    'max-upload-size': Flags.string({ description: 'largest file UploadFile accepts, e.g. 32GiB [env: DTS_UTIL_MAX_UPLOAD_SIZE]' }),
    'default-model': Flags.string({ description: 'model for requests that name none (default: the only one installed) [env: DTS_UTIL_DEFAULT_MODEL]' }),
    'max-queue': Flags.integer({ description: 'generations that may wait behind the running one (default: 16) [env: DTS_UTIL_MAX_QUEUE]', min: 0 }),
    device: Flags.string({ description: 'compute device: auto (the first usable of cuda, webgpu, cpu), cpu, cuda, webgpu [env: DTS_UTIL_DEVICE]', options: ['auto', 'cpu', 'cuda', 'webgpu'] }),
    gpu: Flags.integer({ description: 'which GPU to use when there are several (CUDA device id; default 0) [env: DTS_UTIL_GPU]', min: 0 }),
    gpus: Flags.string({ description: 'one generation worker per listed GPU, e.g. 0,1,2,3 (CUDA device ids; default: one worker on --gpu) [env: DTS_UTIL_GPUS]' }),
    workers: Flags.integer({ description: 'generation workers per device: jobs run at once on it, each worker with its own models and a share of the memory budget (default 1) [env: DTS_UTIL_WORKERS]', min: 1 }),
    'device-fallback': Flags.boolean({
      description: 'when the device is not usable, run on the next usable one (cuda, webgpu, cpu) and log why; --no-device-fallback makes it a start-up error instead (default: on) [env: DTS_UTIL_DEVICE_FALLBACK]',
      allowNo: true,
    }),
    'direct-io': Flags.boolean({
      description: 'write uploads with direct I/O (O_DIRECT) where the filesystem takes it; --no-direct-io writes them through the page cache (default: on) [env: DTS_UTIL_DIRECT_IO]',
      allowNo: true,
    }),
    'graph-optimize': Flags.boolean({
      description:
        "fuse what plain exports leave unfused (attention into ONNX Runtime's MultiHeadAttention) for the device, at a model's first load, cached beside each part; --no-graph-optimize runs the files as they are (default: on) [env: DTS_UTIL_GRAPH_OPTIMIZE]",
      allowNo: true,
    }),
    metrics: Flags.boolean({ description: 'DogStatsD metrics to the Datadog agent; --no-metrics turns them off (default: on) [env: DTS_UTIL_METRICS]', allowNo: true }),
    bonjour: Flags.boolean({
      description: "advertise the server as _dt-grpc._tcp over mDNS, as the Draw Things app's server browser expects, when it listens beyond loopback; --no-bonjour turns it off (default: on) [env: DTS_UTIL_BONJOUR]",
      allowNo: true,
    }),
    'datadog-api-key': Flags.string({ description: 'Datadog API key: logs go to Datadog directly; prefer the DD_API_KEY variable (argv is visible in ps)' }),
    'upload-idle-timeout': Flags.integer({ description: 'seconds an upload may receive nothing before it is ended (DEADLINE_EXCEEDED) and discarded (default: 60) [env: DTS_UTIL_UPLOAD_IDLE_TIMEOUT]', min: 1 }),
    'max-concurrent-uploads': Flags.integer({ description: 'uploads received at once; more are refused with RESOURCE_EXHAUSTED (default: 16) [env: DTS_UTIL_MAX_CONCURRENT_UPLOADS]', min: 1 }),
    'agent-port': Flags.integer({ description: 'answer HAProxy agent checks on this TCP port: "up ready", or "drain" once shutting down (default: off; see `dts-util balancer haproxy`) [env: DTS_UTIL_AGENT_PORT]', min: 1, max: 65535 }),
    'memory-budget': Flags.string({ description: 'memory for loaded models plus a running generation: a share (of the GPU\'s memory on CUDA, else of RAM) or a size, e.g. 80% or 12GiB; default 80% [env: DTS_UTIL_MEMORY_BUDGET]' }),
  };

  /** Says on stderr which install's config.json the settings came from, when the user did not choose it (see settings-source.ts). */
  protected noteSettingsSource(settings: { paths: Paths }): void {
    const note = settingsNote(settings.paths);
    // Not logToStderr: oclif silences that under --json, and this line matters most to scripts.
    if (note) process.stderr.write(`dts-util: ${note}\n`);
  }

  /** Maps parsed oclif flags onto the settings resolver's names. */
  protected connectionFlags(flags: { host?: string; port?: number; tls?: boolean; 'shared-secret'?: string; 'shared-secret-file'?: string }): ConnectionFlags {
    return { host: flags.host, port: flags.port, tls: flags.tls, sharedSecret: flags['shared-secret'], sharedSecretFile: flags['shared-secret-file'] };
  }

  protected serverFlags(flags: ServerFlagValues): ServerFlags {
    return {
      ...this.connectionFlags(flags),
      modelPath: flags['model-path'],
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      maxUploadSize: flags['max-upload-size'],
      defaultModel: flags['default-model'],
      maxQueue: flags['max-queue'],
      device: flags.device,
      gpu: flags.gpu,
      gpus: flags.gpus,
      workers: flags.workers,
      deviceFallback: flags['device-fallback'],
      directIo: flags['direct-io'],
      graphOptimize: flags['graph-optimize'],
      metrics: flags.metrics,
      bonjour: flags.bonjour,
      datadogApiKey: flags['datadog-api-key'],
      memoryBudget: flags['memory-budget'],
      uploadIdleTimeout: flags['upload-idle-timeout'],
      maxConcurrentUploads: flags['max-concurrent-uploads'],
      agentPort: flags['agent-port'],
    };
  }

  protected override async catch(error: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's --json error path takes the exit status from `exitCode`, but its own flag-parsing
    // errors carry it in `oclif.exit` (2): without this they would exit 1 under --json.
    if (error.exitCode === undefined && error.oclif?.exit !== undefined) error.exitCode = error.oclif.exit;
    if (error instanceof UsageError) {
      const usage = Object.assign(new Error(error.message), { exitCode: 2, suggestions: error.suggestion ? [error.suggestion] : undefined });
      if (this.jsonEnabled()) return super.catch(usage);
      this.error(error.message, { exit: 2, suggestions: usage.suggestions });
    }
    return super.catch(error);
  }

  protected override toErrorJson(error: unknown): unknown {
    const e = error as Error & { exitCode?: number; suggestions?: string[]; oclif?: { exit?: number } };
    return { error: { message: e.message, exitCode: e.exitCode ?? e.oclif?.exit ?? 1, ...(e.suggestions ? { suggestion: e.suggestions.join('; ') } : {}) } };
  }
}
