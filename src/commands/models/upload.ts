import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { describeFailures, fleetTargets, forEachHost, type HostOutcome } from '../../client/fleet.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatCount } from '../../util/format-count.js';
import { ProgressLine } from '../../models/progress.js';
import { planUpload, uploadModel, type ModelUploadResult } from '../../models/upload-folder.js';

export default class ModelsUpload extends BaseCommand {
  static override summary = "Upload a model folder (or one file) to a server's models directory, or to several servers.";
  static override description =
    'Every file of a diffusers ONNX folder goes to NAME/ on the server with its SHA-256, which the server checks. Files the server already has with the same SHA-256 are skipped, so running the command again after an interruption sends only the rest. model_index.json goes last: the model appears on the server only once it is whole.\n\nSeveral --host (repeated, or a comma list) upload to each server in turn, each skipping what it already has; a host may give its own port as HOST:PORT, the other settings (TLS, --ca, the shared secret) are the same for all. One host failing does not stop the others; the exit status is 1 when any failed, and --json prints one result per host.';
  static override examples = [
    '<%= config.bin %> models upload ./sd15-onnx',
    '<%= config.bin %> models upload ./sd15-onnx --as sd15 --host gpu-box.lan --ca ./ca.pem',
    '<%= config.bin %> models upload ./sd15-onnx --host gpu-a,gpu-b,gpu-c:7860 --ca ./fleet-ca.pem',
    '<%= config.bin %> models upload ./unet.onnx --as sd15/unet/model.onnx',
    '<%= config.bin %> models upload ./sd15-onnx --json',
  ];
  static override args = { source: Args.string({ description: 'model folder (diffusers ONNX layout, with model_index.json) or a single file (with --as MODEL/PATH)', required: true }) };
  static override flags = {
    ...BaseCommand.connectionFlags,
    ...BaseCommand.fleetHostFlag,
    ca: Flags.file({ description: "CA certificate that signed the server's certificate (default: the install's own)" }),
    as: Flags.string({ description: "folder: the model's name on the server (default: the folder's name); file (required): its place in a model's folder, MODEL/PATH" }),
  };

  async run(): Promise<ModelUploadResult | HostOutcome<ModelUploadResult>[]> {
    const { args, flags } = await this.parse(ModelsUpload);
    // What to send is checked first: a source that is no model is a usage error whatever the server.
    planUpload(args.source, flags.as);
    const targets = fleetTargets(this.connectionFlags({ ...flags, host: undefined }), flags.host);
    this.noteSettingsSource(targets[0]!.settings);
    const fleet = targets.length > 1;
    let progress: ProgressLine | undefined;
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    try {
      const outcomes = await forEachHost(targets, {
        ca: flags.ca,
        signal: cancel.signal,
        onHost: (target) => {
          progress?.finish();
          progress = this.jsonEnabled() ? undefined : new ProgressLine();
          if (fleet && !this.jsonEnabled()) this.log(`${target.host}:`);
        },
      }, (connection) => uploadModel(connection, args.source, { as: flags.as, onProgress: progress?.update, signal: cancel.signal }));
      progress?.finish();
      const exit = cancel.signal.aborted ? 130 : 1;
      if (!fleet) {
        const [only] = outcomes as [HostOutcome<ModelUploadResult>];
        if (!only.ok) this.error(only.error, { exit });
        if (!this.jsonEnabled()) this.log(summary(only.result));
        return only.result;
      }
      if (!this.jsonEnabled()) for (const o of outcomes) this.log(`${o.host}: ${o.ok ? summary(o.result) : `FAILED: ${o.error}`}`);
      const failed = outcomes.filter((o) => !o.ok).length + targets.length - outcomes.length;
      if (failed > 0) {
        process.stderr.write(`dts-util: the upload failed on ${failed} of ${formatCount(targets.length, 'host')}: ${describeFailures(outcomes)}${outcomes.length < targets.length ? '; interrupted before the rest' : ''}; run the same command again: what each server has is skipped\n`);
        process.exitCode = exit;
      }
      return outcomes;
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
}

function summary(result: ModelUploadResult): string {
  const rate = result.seconds > 0 ? result.bytesSent / 2 ** 20 / result.seconds : 0;
  return `${result.name}: sent ${formatCount(result.filesSent, 'file')} (${formatBytes(result.bytesSent)}), skipped ${result.filesSkipped} already on the server (${formatBytes(result.bytesSkipped)}) in ${result.seconds.toFixed(1)} s, ${rate.toFixed(1)} MiB/s`;
}
