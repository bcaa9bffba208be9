import { Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { explainConnectionFailure } from '../../client/explain-connection.js';
import { unaryCall } from '../../client/client.js';
import { caPathFor, connectToServer } from '../../client/server-connection.js';
import { resolveConnectionSettings } from '../../config/settings.js';
import { familyLabel } from '../../diffusion/model-family.js';
import { formatBytes } from '../../util/format-bytes.js';
import type { ListModelsRequest, ListModelsResponse, ModelInfo } from '../../generated/image_generation.js';

const TIMEOUT_MS = 30_000;

export default class ModelsList extends BaseCommand {
  static override summary = 'List the models a server has: family (sd1, sd2, sdxl, sd-turbo, sdxl-turbo, lcm-…, "(inpainting)" after it for an inpainting UNet), size, whether it has a VAE encoder (img2img and inpainting), whether usable and why not, the default.';
  static override examples = ['<%= config.bin %> models list', '<%= config.bin %> models list --json', '<%= config.bin %> models list --host gpu-box.lan --ca ./ca.pem'];
  static override flags = {
    ...BaseCommand.connectionFlags,
    ca: Flags.file({ description: "CA certificate that signed the server's certificate (default: the install's own)" }),
  };

  async run(): Promise<{ models: ModelInfo[] }> {
    const { flags } = await this.parse(ModelsList);
    const settings = resolveConnectionSettings(this.connectionFlags(flags));
    this.noteSettingsSource(settings);
    const connection = connectToServer(settings, flags.ca);
    let models: ModelInfo[];
    try {
      ({ models } = await unaryCall<ListModelsRequest, ListModelsResponse>(connection.service, connection.service.listModels, {}, TIMEOUT_MS));
    } catch (error) {
      this.error(explainConnectionFailure(error, caPathFor(settings, flags.ca), TIMEOUT_MS), { exit: 1 });
    } finally {
      connection.close();
    }
    if (!this.jsonEnabled()) {
      const rows = models.map((m) => [
        m.name + (m.isDefault ? ' *' : ''),
        familyLabel(m.family, m.inpainting),
        m.predictionType,
        formatBytes(m.sizeBytes),
        // img2img and inpainting encode the init image with the VAE encoder, which text-to-image does without.
        m.parts.includes('vae_encoder') ? 'yes' : 'no',
        m.complete ? (m.loadable || m.problem === '' ? 'yes' : `no: ${m.problem}`) : `no: missing ${m.missing.join(', ')}`,
        m.builtin ? 'built in' : 'installed',
      ]);
      const header = ['NAME', 'FAMILY', 'PREDICTION', 'SIZE', 'IMG2IMG', 'COMPLETE', 'SOURCE'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows]) this.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
      if (models.some((m) => m.isDefault)) this.log('\n* used when a request names no model');
    }
    return { models };
  }
}
