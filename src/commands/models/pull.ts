import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { caPathFor, connectToServer } from '../../client/server-connection.js';
import { explainConnectionFailure } from '../../client/explain-connection.js';
import { UsageError } from '../../config/errors.js';
import { resolveConnectionSettings, resolveServerSettings } from '../../config/settings.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatCount } from '../../util/format-count.js';
import { DEFAULT_HUB_ENDPOINT, normaliseEndpoint } from '../../models/hub-client.js';
import { ProgressLine } from '../../models/progress.js';
import { pullModel, type PullResult } from '../../models/pull.js';
import { pullToServer } from '../../models/pull-remote.js';
import type { ModelUploadResult } from '../../models/upload-folder.js';

export default class ModelsPull extends BaseCommand {
  static override summary = 'Download a diffusers ONNX model from a Hugging Face style hub into the models directory (or onto a server with --remote).';
  static override description = `Only the files generation needs are fetched (model_index.json, the text encoders, UNet and VAE decoder as ONNX, the scheduler and tokenizers), each checked against the hub's size and SHA-256. The model appears only once complete; an interrupted pull resumes where it stopped when run again.

A private or gated repository needs an access token in the HF_TOKEN environment variable (it is sent only to the hub, never printed). HF_ENDPOINT or --endpoint points at another hub or a mirror.

With --remote the model is downloaded into a hidden staging folder of the local models directory, uploaded to the server given by --host/--port (or the configured one), and the local copy is then deleted.`;
  static override examples = [
    '<%= config.bin %> models pull onnx-community/stable-diffusion-v1-5-ONNX',
    '<%= config.bin %> models pull runwayml/stable-diffusion-v1-5 --revision onnx --as sd15',
    'HF_TOKEN=hf_… <%= config.bin %> models pull my-org/private-sd-onnx',
    '<%= config.bin %> models pull onnx-community/sd-turbo-ONNX --remote --host gpu-box.lan --ca ./ca.pem',
  ];
  static override args = { repo: Args.string({ description: 'repository on the hub, owner/name', required: true }) };
  static override flags = {
    ...BaseCommand.connectionFlags,
    ca: Flags.file({ description: "with --remote: CA certificate that signed the server's certificate (default: the install's own)" }),
    revision: Flags.string({ description: 'branch, tag or commit', default: 'main' }),
    endpoint: Flags.string({ description: `hub address (default: ${DEFAULT_HUB_ENDPOINT}) [env: HF_ENDPOINT]` }),
    as: Flags.string({ description: "the model's name (default: the repository's last segment)" }),
    'model-path': Flags.string({ description: 'models directory [env: DTS_UTIL_MODEL_PATH]' }),
    remote: Flags.boolean({ description: 'send the model to the server (--host/--port) instead of keeping it in the local models directory' }),
  };

  async run(): Promise<PullResult & { upload?: ModelUploadResult }> {
    const { args, flags } = await this.parse(ModelsPull);
    const endpoint = normaliseEndpoint(flags.endpoint ?? (process.env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT));
    const token = process.env.HF_TOKEN || undefined;
    const { modelsDir } = resolveServerSettings({ modelPath: flags['model-path'] });
    const settings = resolveConnectionSettings(this.connectionFlags(flags));
    this.noteSettingsSource(settings);
    const caPath = caPathFor(settings, flags.ca);
    const progress = this.jsonEnabled() ? undefined : new ProgressLine();
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    const pull = { hub: { endpoint, token }, repo: args.repo, revision: flags.revision, modelsDir, as: flags.as, onProgress: progress?.update, signal: cancel.signal };
    try {
      let result: PullResult & { upload?: ModelUploadResult };
      if (flags.remote) {
        const connection = connectToServer(settings, flags.ca);
        try {
          result = await pullToServer(connection, pull);
        } finally {
          connection.close();
        }
      } else {
        result = await pullModel(pull);
      }
      progress?.finish();
      if (!this.jsonEnabled()) {
        const fetched = result.files.filter((f) => f.downloaded).length;
        this.log(`${result.name}: ${formatCount(fetched, 'file')} downloaded (${formatBytes(result.bytesDownloaded)}), ${result.files.length - fetched} already here, in ${result.seconds.toFixed(1)} s`);
        this.log(result.upload ? `uploaded to the server as ${result.upload.name} (${formatCount(result.upload.filesSent, 'file')} sent, ${result.upload.filesSkipped} already there)` : `installed in ${result.dir}`);
      }
      return result;
    } catch (error) {
      progress?.finish();
      if (error instanceof UsageError) throw error;
      this.error(explainConnectionFailure(error, caPath), { exit: cancel.signal.aborted ? 130 : 1 });
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
}
