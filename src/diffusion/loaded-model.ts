import fs from 'node:fs';
import path from 'node:path';

import { ClipTokenizer } from './tokenizer.js';
import type { SchedulerConfig } from './types.js';
import type { UNetCall } from './unet-call.js';
import { devicePreference } from './device.js';
import { floatTensor, inputNamed, intTensor, openSession, toFloat32, type ModelSession, type RunClock } from './onnx-session.js';

/** SD 1.x/2.x latent scaling; a VAE config's scaling_factor wins (SDXL: 0.13025). */
const DEFAULT_VAE_SCALING = 0.18215;

function readJson<T>(file: string, fallback: T): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return fallback;
  }
}

/**
 * One diffusers-layout ONNX pipeline, loaded: the three sessions, the tokenizer and the scheduler
 * config. Input names, dtypes and shapes come from the sessions' metadata, since exports differ
 * (int32 or int64 ids, float or int64 timestep, fp16 or fp32 tensors).
 */
export class LoadedModel {
  private constructor(
    readonly name: string,
    readonly tokenizer: ClipTokenizer,
    readonly scheduler: SchedulerConfig,
    private readonly textEncoder: ModelSession,
    private readonly unet: ModelSession,
    private readonly vaeDecoder: ModelSession,
    readonly vaeScaling: number,
    /** Why faster devices were not used (empty when the first choice worked). */
    readonly fallbacks: string[],
    readonly loadMs: number,
  ) {}

  static async load(dir: string, name: string, device: string, gpu = 0): Promise<LoadedModel> {
    const started = performance.now();
    const devices = devicePreference(device);
    const fallbacks: string[] = [];
    const tokenizer = await ClipTokenizer.fromDirectory(path.join(dir, 'tokenizer'));
    const scheduler = readJson<SchedulerConfig>(path.join(dir, 'scheduler', 'scheduler_config.json'), {});
    const open = (component: string) => openSession(path.join(dir, component, 'model.onnx'), devices, fallbacks, gpu);
    const textEncoder = await open('text_encoder');
    const unet = await open('unet');
    const vaeDecoder = await open('vae_decoder');
    const vaeConfig = readJson<{ scaling_factor?: number }>(path.join(dir, 'vae_decoder', 'config.json'), {});
    return new LoadedModel(name, tokenizer, scheduler, textEncoder, unet, vaeDecoder, vaeConfig.scaling_factor ?? DEFAULT_VAE_SCALING, fallbacks, performance.now() - started);
  }

  get device(): string {
    return this.unet.device;
  }

  get predictionType(): 'epsilon' | 'v_prediction' {
    return this.scheduler.prediction_type === 'v_prediction' ? 'v_prediction' : 'epsilon';
  }

  /** Token ids (each maxLength long) → hidden states [n, tokens, dim]. */
  async encodeText(ids: number[][], clock: RunClock): Promise<{ data: Float32Array; shape: [number, number, number] }> {
    const input = inputNamed(this.textEncoder, ['input_ids']);
    const tokens = ids[0]!.length;
    const out = await clock.run(this.textEncoder, { [input.name]: intTensor(input.type, ids.flat(), [ids.length, tokens]) });
    const hidden = out[this.textEncoder.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : this.textEncoder.outputNames[0]!]!;
    const data = toFloat32(hidden);
    return { data, shape: [ids.length, tokens, data.length / ids.length / tokens] };
  }

  /** The UNet as the samplers' model-denoiser calls it. */
  unetCall(clock: RunClock): UNetCall {
    const sample = inputNamed(this.unet, ['sample']);
    const timestep = inputNamed(this.unet, ['timestep']);
    const context = inputNamed(this.unet, ['encoder_hidden_states']);
    const output = this.unet.outputNames.includes('out_sample') ? 'out_sample' : this.unet.outputNames[0]!;
    return async (x, xShape, t, hidden, hiddenShape) => {
      // Timestep layouts in the wild: a scalar, [1], or one per batch item; integer exports want whole steps.
      const tDims = timestep.shape.length === 0 ? [] : typeof timestep.shape[0] === 'number' && timestep.shape[0] === 1 ? [1] : [xShape[0]];
      const count = tDims.length === 0 ? 1 : tDims[0]!;
      const tValue = timestep.type === 'int64' || timestep.type === 'int32' ? Math.round(t) : t;
      const out = await clock.run(this.unet, {
        [sample.name]: floatTensor(sample.type, x, xShape),
        [timestep.name]: timestep.type === 'float32' || timestep.type === 'float16' ? floatTensor(timestep.type, new Float32Array(count).fill(tValue), tDims) : intTensor(timestep.type, new Array<number>(count).fill(tValue), tDims),
        [context.name]: floatTensor(context.type, hidden, hiddenShape),
      });
      return toFloat32(out[output]!);
    };
  }

  /** Latents [n, 4, h, w] → images [n, 3, 8h, 8w] in [-1, 1], one image per run to bound memory. */
  async decode(latents: Float32Array, shape: [number, number, number, number], clock: RunClock): Promise<Float32Array[]> {
    const input = inputNamed(this.vaeDecoder, ['latent_sample']);
    const per = shape[1] * shape[2] * shape[3];
    const images: Float32Array[] = [];
    for (let i = 0; i < shape[0]; i++) {
      const scaled = latents.slice(i * per, (i + 1) * per);
      for (let j = 0; j < scaled.length; j++) scaled[j] = scaled[j]! / this.vaeScaling;
      const out = await clock.run(this.vaeDecoder, { [input.name]: floatTensor(input.type, scaled, [1, shape[1], shape[2], shape[3]]) });
      images.push(toFloat32(out[this.vaeDecoder.outputNames.includes('sample') ? 'sample' : this.vaeDecoder.outputNames[0]!]!));
    }
    return images;
  }

  async release(): Promise<void> {
    await Promise.all([this.textEncoder.session.release(), this.unet.session.release(), this.vaeDecoder.session.release()]);
  }
}
