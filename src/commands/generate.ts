import { Args, Flags } from '@oclif/core';

import { BaseCommand, decimalFlag } from '../base-command.js';
import { explainConnectionFailure } from '../client/explain-connection.js';
import { generateToFiles, type GeneratedFiles } from '../client/generate.js';
import { checkGenerateInput, generateRequest, readInputImages, type GenerateInput } from '../client/generate-request.js';
import { caPathFor, connectToServer } from '../client/server-connection.js';
import { UsageError } from '../config/errors.js';
import { resolveConnectionSettings } from '../config/settings.js';
import type { ImageGenerationProgress } from '../generated/image_generation.js';
import { makeWritableDirectorySync } from '../util/make-directory.js';

export default class Generate extends BaseCommand {
  static override summary = 'Generate images on the server and save them as PNG files.';
  static override description =
    'Shows progress step by step; Ctrl-C cancels the job on the server. Fields left out get the defaults of the model family (SD 1.x: 512×512, 20 steps, CFG 7; SDXL: 1024×1024; Turbo: 1 step, no guidance; LCM: 4 steps) and a random seed. With --init-image it starts from a picture (img2img; the model needs a VAE encoder), with --mask too it repaints only the white part of the mask (inpainting).';
  static override examples = [
    '<%= config.bin %> generate "a photo of a cat" --steps 30 --seed 42',
    '<%= config.bin %> generate "a castle" --negative "blurry" --width 768 --height 512 --sampler "DPM++ 2M Karras" --out ./pictures',
    '<%= config.bin %> generate "a dog" --model smoke --json',
    '<%= config.bin %> generate "a fox" --seed 42 --seed-mode torch-cpu',
    '<%= config.bin %> generate "a watercolour painting of a cat" --init-image cat.jpg --denoise 0.6',
    '<%= config.bin %> generate "a red hat" --init-image cat.png --mask hat-mask.png --mask-blur 8',
  ];
  static override args = { prompt: Args.string({ description: 'what to draw', required: true }) };
  static override flags = {
    ...BaseCommand.connectionFlags,
    ca: Flags.file({ description: "CA certificate that signed the server's certificate (default: the install's own)" }),
    negative: Flags.string({ description: 'negative prompt', default: '' }),
    width: Flags.integer({ description: "width in pixels, a multiple of 8 (default: the model family's)", min: 1 }),
    height: Flags.integer({ description: "height in pixels, a multiple of 8 (default: the model family's)", min: 1 }),
    steps: Flags.integer({ description: "sampling steps (default: the model family's)", min: 1 }),
    cfg: decimalFlag({ description: "guidance scale (CFG), 0 to 30 (default: the model family's)" }),
    seed: Flags.integer({ description: 'seed; -1 for random', default: -1 }),
    'seed-mode': Flags.string({ description: "the generator that turns a seed into noise: default (this server's own) or torch-cpu (torch.manual_seed + torch.randn on the CPU, as A1111's RNG: CPU)", options: ['default', 'torch-cpu'], default: 'default' }),
    sampler: Flags.string({ description: 'sampler, e.g. "Euler a", "DPM++ 2M Karras"', default: '' }),
    'batch-size': Flags.integer({ description: 'images per batch', default: 1, min: 1 }),
    'batch-count': Flags.integer({ description: 'batches', default: 1, min: 1 }),
    hires: Flags.boolean({ description: 'hires fix: a second pass at twice the size' }),
    denoise: decimalFlag({ description: "how much changes, 0 to 1: with --init-image, img2img's strength (default: 0.75); with --hires, the second pass's (default: 0.7)" }),
    'init-image': Flags.file({ description: 'start from this picture (PNG or JPEG, up to 64 MiB): img2img; width and height left out take its size' }),
    mask: Flags.file({ description: 'inpaint: a PNG the size of --init-image, white = repaint, black = keep (needs --init-image)' }),
    'mask-blur': Flags.integer({ description: "pixels of blur at the mask's edge, 0 for none (default: 4; needs --mask)", min: 0 }),
    model: Flags.string({ description: "model name (default: the server's default model)", default: '' }),
    out: Flags.directory({ char: 'o', description: 'folder for the PNG files (nothing is overwritten)', default: '.' }),
  };

  async run(): Promise<GeneratedFiles> {
    const { args, flags } = await this.parse(Generate);
    const input: GenerateInput = {
      prompt: args.prompt,
      negative: flags.negative,
      width: flags.width,
      height: flags.height,
      steps: flags.steps,
      cfg: flags.cfg,
      seed: flags.seed,
      seedMode: flags['seed-mode'],
      sampler: flags.sampler,
      batchSize: flags['batch-size'],
      batchCount: flags['batch-count'],
      hires: flags.hires,
      denoise: flags.denoise,
      model: flags.model,
      initImageFile: flags['init-image'],
      maskFile: flags.mask,
      maskBlur: flags['mask-blur'],
    };
    checkGenerateInput(input);
    // The pictures are read before connecting: a bad file costs no server time.
    const request = generateRequest(input, readInputImages(input));
    const settings = resolveConnectionSettings(this.connectionFlags(flags));
    this.noteSettingsSource(settings);
    checkOutDir(flags.out);
    const connection = connectToServer(settings, flags.ca);
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    try {
      const result = await generateToFiles(connection, request, { outDir: flags.out, signal: cancel.signal, onProgress: this.jsonEnabled() ? undefined : (p) => this.showProgress(p) });
      if (!this.jsonEnabled()) {
        if (process.stderr.isTTY) process.stderr.write('\n');
        for (const [i, file] of result.files.entries()) this.log(`${file}  (seed ${result.seeds[i]})`);
      }
      return result;
    } catch (error) {
      if (cancel.signal.aborted) this.error('cancelled: the job was stopped on the server', { exit: 130 });
      this.error(explainConnectionFailure(error, caPathFor(settings, flags.ca)), { exit: 1 });
    } finally {
      process.off('SIGINT', onSigint);
      connection.close();
    }
  }

  /** When the current sampling pass reported its first step: speed is measured within a pass. */
  private passStarted = 0;

  /** One line, rewritten in place on a terminal: step i/n, it/s, ETA. */
  private showProgress(progress: ImageGenerationProgress): void {
    if (!process.stderr.isTTY) return;
    let line = progress.stage === 'queued' ? `queued (${progress.queuePosition} ahead)` : progress.stage;
    if (progress.stage === 'sampling' && progress.steps > 0) {
      const now = performance.now();
      if (progress.step === 1) this.passStarted = now;
      const rate = progress.step > 1 ? (progress.step - 1) / ((now - this.passStarted) / 1000) : 0;
      const eta = rate > 0 ? `ETA ${((progress.steps - progress.step) / rate).toFixed(0)} s` : '';
      line = `batch ${progress.batch}/${progress.batches}  step ${progress.step}/${progress.steps}  ${rate > 0 ? `${rate.toFixed(2)} it/s` : ''}  ${eta}`;
    }
    process.stderr.write(`\r${line.padEnd(70)}`);
  }
}

/** --out must be (or become) a folder we can write, before the server spends time on pictures. */
function checkOutDir(dir: string): void {
  try {
    makeWritableDirectorySync(dir);
  } catch (error) {
    throw new UsageError(`cannot save pictures in ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'pass a folder you can write to with -o/--out');
  }
}
