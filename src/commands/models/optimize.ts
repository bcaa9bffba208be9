import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { resolveServerSettings } from '../../config/settings.js';
import { selectDevice } from '../../diffusion/device-probe.js';
import { optimizeInstalledModel, type OptimizeReport } from '../../models/optimize.js';

export default class ModelsOptimize extends BaseCommand {
  static override summary = "Optimize a model's graphs for a device ahead of time (the server otherwise does it at the first load).";
  static override description =
    "Plain exports (optimum-cli, torch.onnx.export) write attention as MatMul, Softmax and reshapes, GroupNorm as InstanceNormalization arithmetic and GELU as Erf arithmetic, which ONNX Runtime runs op by op. This rewrites them into the fused operators the device's provider runs (MultiHeadAttention everywhere; on CUDA also GroupNorm, SkipGroupNorm, BiasSplitGelu and BiasAdd; on WebGPU BiasSplitGelu, SkipLayerNormalization and BiasAdd), and caches each part's optimized graph beside it (a hidden file, reused while the part's file stays the same). Parts with nothing to fuse are left as they are.";
  static override examples = ['<%= config.bin %> models optimize sd15', '<%= config.bin %> models optimize sd15 --device cuda --json'];
  static override args = { name: Args.string({ description: 'the model (its folder name, as models list shows it)', required: true }) };
  static override flags = {
    device: Flags.string({ description: 'the device to optimize for: auto (the one serve would choose here), cuda, webgpu or cpu', options: ['auto', 'cuda', 'webgpu', 'cpu'], default: 'auto' }),
    'model-path': Flags.string({ description: 'models directory [env: DTS_UTIL_MODEL_PATH]' }),
  };

  async run(): Promise<OptimizeReport> {
    const { args, flags } = await this.parse(ModelsOptimize);
    const settings = resolveServerSettings({ modelPath: flags['model-path'] });
    const device = flags.device === 'auto' ? (await selectDevice({ requested: 'auto', gpu: settings.gpu, fallback: true })).chosen : flags.device;
    const report = optimizeInstalledModel(settings.modelsDir, args.name, device);
    if (!this.jsonEnabled()) {
      for (const part of report.parts) {
        const fused = Object.entries(part.fused).map(([op, n]) => `${n} ${op}`).join(', ');
        const outcome = part.skipped ? `left as it is: ${part.skipped}` : fused ? `fused ${fused}${part.cached ? ' (cached)' : ''} → ${part.optimized}` : 'nothing to fuse';
        this.log(`${part.part}: ${outcome}`);
      }
      this.log(`${report.model} is ready for ${report.device}`);
    }
    return report;
  }
}
