import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { caPathFor, connectToServer } from '../../client/server-connection.js';
import { explainConnectionFailure } from '../../client/explain-connection.js';
import { resolveConnectionSettings } from '../../config/settings.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatCount } from '../../util/format-count.js';
import { ProgressLine } from '../../models/progress.js';
import { planUpload, uploadModel, type ModelUploadResult } from '../../models/upload-folder.js';


export default class ModelsUpload extends BaseCommand {
  static override summary = "Upload a model folder (or one file) to a server's models directory.";
  static override description =
    'Every file of a diffusers ONNX folder goes to NAME/ on the server with its SHA-256, which the server checks. Files the server already has with the same SHA-256 are skipped, so running the command again after an interruption sends only the rest. model_index.json goes last: the model appears on the server only once it is whole.';
  static override examples = [
    '<%= config.bin %> models upload ./sd15-onnx',
    '<%= config.bin %> models upload ./sd15-onnx --as sd15 --host gpu-box.lan --ca ./ca.pem',
    '<%= config.bin %> models upload ./unet.onnx --as sd15/unet/model.onnx',
    '<%= config.bin %> models upload ./sd15-onnx --json',
  ];
  static override args = { source: Args.string({ description: 'model folder (diffusers ONNX layout, with model_index.json) or a single file (with --as MODEL/PATH)', required: true }) };
  static override flags = {
    ...BaseCommand.connectionFlags,
    ca: Flags.file({ description: "CA certificate that signed the server's certificate (default: the install's own)" }),
    as: Flags.string({ description: "folder: the model's name on the server (default: the folder's name); file (required): its place in a model's folder, MODEL/PATH" }),
  };

  async run(): Promise<ModelUploadResult> {
    const { args, flags } = await this.parse(ModelsUpload);
    // What to send is checked first: a source that is no model is a usage error whatever the server.
    planUpload(args.source, flags.as);
    const settings = resolveConnectionSettings(this.connectionFlags(flags));
    this.noteSettingsSource(settings);
    const caPath = caPathFor(settings, flags.ca);
    const connection = connectToServer(settings, flags.ca);
    const progress = this.jsonEnabled() ? undefined : new ProgressLine();
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    try {
      const result = await uploadModel(connection, args.source, { as: flags.as, onProgress: progress?.update, signal: cancel.signal });
      progress?.finish();
      if (!this.jsonEnabled()) {
        const rate = result.seconds > 0 ? result.bytesSent / 2 ** 20 / result.seconds : 0;
        this.log(`${result.name}: sent ${formatCount(result.filesSent, 'file')} (${formatBytes(result.bytesSent)}), skipped ${result.filesSkipped} already on the server (${formatBytes(result.bytesSkipped)}) in ${result.seconds.toFixed(1)} s, ${rate.toFixed(1)} MiB/s`);
      }
      return result;
    } catch (error) {
      progress?.finish();
      if (error instanceof Error && error.name === 'UsageError') throw error;
      this.error(explainConnectionFailure(error, caPath), { exit: cancel.signal.aborted ? 130 : 1 });
    } finally {
      process.off('SIGINT', onSigint);
      connection.close();
    }
  }
}
