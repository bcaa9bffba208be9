import { Args, Errors, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { describeFailures, fleetTargets, type FleetTarget, type HostOutcome } from '../../client/fleet.js';
import { caPathFor } from '../../client/server-connection.js';
import { explainConnectionFailure } from '../../client/explain-connection.js';
import { UsageError } from '../../config/errors.js';
import { resolveServerSettings } from '../../config/settings.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatCount } from '../../util/format-count.js';
import { DEFAULT_HUB_ENDPOINT, normaliseEndpoint } from '../../models/hub-client.js';
import { ProgressLine, type TransferProgress } from '../../models/progress.js';
import { pullModel, type PullResult } from '../../models/pull.js';
import { pullToServers } from '../../models/pull-remote.js';
import type { ModelUploadResult } from '../../models/upload-folder.js';

export default class ModelsPull extends BaseCommand {
  static override summary = 'Download a diffusers ONNX model from a Hugging Face style hub into the models directory (or onto a server with --remote).';
  static override description = `Only the files generation needs are fetched (model_index.json, the text encoders, UNet and VAE decoder as ONNX, the scheduler and tokenizers), each checked against the hub's size and SHA-256. The model appears only once complete; an interrupted pull resumes where it stopped when run again.

A private or gated repository needs an access token in the HF_TOKEN environment variable (it is sent only to the hub, never printed). HF_ENDPOINT or --endpoint points at another hub or a mirror.

With --remote the model is downloaded into a hidden staging folder of the local models directory, uploaded to the server given by --host/--port (or the configured one), and the local copy is then deleted. Several --host (repeated, or a comma list; HOST:PORT for a port of its own) get it one after the other, each sent only what it lacks; the local copy stays until every one has it, the exit status is 1 when any failed, and --json lists each host's result under hosts.`;
  static override examples = [
    '<%= config.bin %> models pull onnx-community/stable-diffusion-v1-5-ONNX',
    '<%= config.bin %> models pull runwayml/stable-diffusion-v1-5 --revision onnx --as sd15',
    'HF_TOKEN=hf_… <%= config.bin %> models pull my-org/private-sd-onnx',
    '<%= config.bin %> models pull onnx-community/sd-turbo-ONNX --remote --host gpu-box.lan --ca ./ca.pem',
    '<%= config.bin %> models pull onnx-community/sd-turbo-ONNX --remote --host gpu-a,gpu-b --ca ./fleet-ca.pem --json',
  ];
  static override args = { repo: Args.string({ description: 'repository on the hub, owner/name', required: true }) };
  static override flags = {
    ...BaseCommand.connectionFlags,
    ...BaseCommand.fleetHostFlag,
    ca: Flags.file({ description: "with --remote: CA certificate that signed the server's certificate (default: the install's own)" }),
    revision: Flags.string({ description: 'branch, tag or commit', default: 'main' }),
    endpoint: Flags.string({ description: `hub address (default: ${DEFAULT_HUB_ENDPOINT}) [env: HF_ENDPOINT]` }),
    as: Flags.string({ description: "the model's name (default: the repository's last segment)" }),
    'model-path': Flags.string({ description: 'models directory [env: DTS_UTIL_MODEL_PATH]' }),
    remote: Flags.boolean({ description: 'send the model to the server (--host/--port) instead of keeping it in the local models directory' }),
  };

  async run(): Promise<PullResult & { upload?: ModelUploadResult; hosts?: HostOutcome<ModelUploadResult>[] }> {
    const { args, flags } = await this.parse(ModelsPull);
    const endpoint = normaliseEndpoint(flags.endpoint ?? (process.env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT));
    const token = process.env.HF_TOKEN || undefined;
    const { modelsDir } = resolveServerSettings({ modelPath: flags['model-path'] });
    if (!flags.remote && (flags.host?.length ?? 0) > 0) throw new UsageError('--host is for --remote: a pull without it installs into the local models directory', 'add --remote to send the model to those servers');
    const targets = fleetTargets(this.connectionFlags({ ...flags, host: undefined }), flags.host);
    const caPath = caPathFor(targets[0]!.settings, flags.ca);
    this.noteSettingsSource(targets[0]!.settings);
    const fleet = targets.length > 1;
    // Replaced per host, so each server's transfer gets a line (and a clock) of its own.
    let progress = this.jsonEnabled() ? undefined : new ProgressLine();
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    const pull = { hub: { endpoint, token }, repo: args.repo, revision: flags.revision, modelsDir, as: flags.as, onProgress: (p: TransferProgress) => progress?.update(p), signal: cancel.signal };
    const onHost = (target: FleetTarget) => {
      progress?.finish();
      progress = this.jsonEnabled() ? undefined : new ProgressLine();
      if (fleet && !this.jsonEnabled()) this.log(`${target.host}:`);
    };
    try {
      if (!flags.remote) {
        const result = await pullModel(pull);
        progress?.finish();
        if (!this.jsonEnabled()) this.log(`${downloadSummary(result)}\ninstalled in ${result.dir}`);
        return result;
      }
      const { hosts, ...pulled } = await pullToServers(targets, pull, { ca: flags.ca, onHost });
      progress?.finish();
      const exit = cancel.signal.aborted ? 130 : 1;
      if (!fleet) {
        const [only] = hosts as [HostOutcome<ModelUploadResult>];
        if (!only.ok) this.error(`${only.error}; the download is kept in ${pulled.dir} for the next run`, { exit });
        if (!this.jsonEnabled()) this.log(`${downloadSummary(pulled)}\n${uploadSummary('uploaded to the server', only.result)}`);
        return { ...pulled, upload: only.result };
      }
      if (!this.jsonEnabled()) {
        this.log(downloadSummary(pulled));
        for (const h of hosts) this.log(`${h.host}: ${h.ok ? uploadSummary('uploaded', h.result) : `FAILED: ${h.error}`}`);
      }
      const failed = hosts.filter((h) => !h.ok).length + targets.length - hosts.length;
      if (failed > 0) {
        process.stderr.write(`dts-util: the upload failed on ${failed} of ${formatCount(targets.length, 'host')}: ${describeFailures(hosts)}${hosts.length < targets.length ? '; interrupted before the rest' : ''}; the download is kept in ${pulled.dir}: run the same command again to send each server what it lacks\n`);
        process.exitCode = exit;
      }
      return { ...pulled, hosts };
    } catch (error) {
      progress?.finish();
      if (error instanceof UsageError) throw error;
      // this.error() from above (a single host that failed) passes through as it is.
      if (error instanceof Errors.CLIError) throw error;
      this.error(explainConnectionFailure(error, caPath), { exit: cancel.signal.aborted ? 130 : 1 });
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
}

function downloadSummary(result: PullResult): string {
  const fetched = result.files.filter((f) => f.downloaded).length;
  return `${result.name}: ${formatCount(fetched, 'file')} downloaded (${formatBytes(result.bytesDownloaded)}), ${result.files.length - fetched} already here, in ${result.seconds.toFixed(1)} s`;
}

function uploadSummary(what: string, upload: ModelUploadResult): string {
  return `${what} as ${upload.name} (${formatCount(upload.filesSent, 'file')} sent, ${upload.filesSkipped} already there)`;
}
