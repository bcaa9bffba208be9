import fs from 'node:fs';
import path from 'node:path';

import type * as ort from 'onnxruntime-node';

import { ClipTokenizer } from './tokenizer.js';
import { LATENT_CHANNELS, type SchedulerConfig } from './types.js';
import { concatChannels, type UNetCall } from './unet-call.js';
import { devicePreference } from './device.js';
import { INPAINT_EXTRA_CHANNELS, type EncoderSpec } from './model-parts.js';
import { inspectModelFolder, type ModelSpec } from './model-spec.js';
import { floatTensor, inputNamed, intTensor, openOnDevice, openSession, toFloat32, type ModelSession, type RunClock, type SessionOpener, type TensorType } from './onnx-session.js';
import { optimizingOpener } from './optimizing-opener.js';
/** UNet inputs that come per batch item from the family's conditioning (see unet-call.ts). */
const EXTRA_UNET_INPUTS = ['text_embeds', 'time_ids', 'timestep_cond'];

function readJson<T>(file: string, fallback: T): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return fallback;
  }
}

/** Text encoded for the UNet: the context [n, tokens, dim] and, for SDXL, the pooled text_embeds [n, D]. */
export interface EncodedText {
  context: Float32Array;
  shape: [number, number, number];
  pooled?: Float32Array;
}

interface LoadedEncoder {
  spec: EncoderSpec;
  tokenizer: ClipTokenizer;
  session: ModelSession;
}

/**
 * One diffusers-layout ONNX pipeline, loaded: the sessions, the tokenizers and the scheduler
 * config, with the folder's spec (family, what the UNet takes). Input names, dtypes and shapes come
 * from the sessions' metadata, since exports differ (int32 or int64 ids, float or int64 timestep,
 * fp16 or fp32 tensors).
 */
export class LoadedModel {
  private constructor(
    readonly name: string,
    readonly spec: ModelSpec,
    readonly scheduler: SchedulerConfig,
    private readonly encoders: LoadedEncoder[],
    private readonly unet: ModelSession,
    private readonly vaeDecoder: ModelSession,
    /** Why faster devices were not used (empty when the first choice worked). */
    readonly fallbacks: string[],
    readonly loadMs: number,
    /** Opens vae_encoder/, which only img2img and inpainting need: on first use, then kept. */
    private readonly openVaeEncoder: () => Promise<ModelSession>,
  ) {}

  private vaeEncoder: Promise<ModelSession> | undefined;

  /** What the graph optimizer fused in each part, as loaded ({} per part it left as it was). */
  fused: Record<string, Record<string, number>> = {};

  /** `options.open` opens each session (default: the project's settings); bench/gpu passes provider settings through it. */
  static async load(dir: string, name: string, device: string, gpu = 0, options: { graphOptimize?: boolean; open?: SessionOpener } = {}): Promise<LoadedModel> {
    const started = performance.now();
    // The request handler refused a bad folder already; this catches one changed since.
    const inspection = inspectModelFolder(dir);
    if (inspection.problems) throw new Error(`model "${name}" is not usable: ${inspection.problems.join('; ')}`);
    const spec = inspection.spec;
    const devices = devicePreference(device);
    const fallbacks: string[] = [];
    const scheduler = readJson<SchedulerConfig>(path.join(dir, 'scheduler', 'scheduler_config.json'), {});
    const fused: Record<string, Record<string, number>> = {};
    const opener = options.open ?? openOnDevice;
    const open = (component: string) => openSession(path.join(dir, component, 'model.onnx'), devices, fallbacks, gpu, options.graphOptimize ? optimizingOpener(component, fused, fallbacks, opener) : opener);
    const encoders: LoadedEncoder[] = [];
    for (const encoder of spec.encoders) {
      encoders.push({ spec: encoder, tokenizer: await ClipTokenizer.fromDirectory(path.join(dir, encoder.tokenizer)), session: await open(encoder.folder) });
    }
    const unet = await open('unet');
    const vaeDecoder = await open('vae_decoder');
    const model = new LoadedModel(name, spec, scheduler, encoders, unet, vaeDecoder, fallbacks, performance.now() - started, () => open('vae_encoder'));
    model.fused = fused;
    return model;
  }

  get device(): string {
    return this.unet.device;
  }

  /** The first encoder's tokenizer: its truncation is what the pipeline reports. */
  get tokenizer(): ClipTokenizer {
    return this.encoders[0]!.tokenizer;
  }

  get vaeScaling(): number {
    return this.spec.vaeScaling;
  }

  get predictionType(): 'epsilon' | 'v_prediction' {
    return this.scheduler.prediction_type === 'v_prediction' ? 'v_prediction' : 'epsilon';
  }

  /**
   * Texts → the UNet's text context. SD 1.x/2.x: the encoder's last hidden state. SDXL: each
   * encoder's penultimate hidden states with its own tokenizer, concatenated on the feature axis
   * (encoder 1's features first, as diffusers does), plus text_encoder_2's pooled text_embeds.
   */
  async encodeText(texts: string[], clock: RunClock): Promise<EncodedText> {
    const parts: { data: Float32Array; tokens: number; dim: number }[] = [];
    let pooled: Float32Array | undefined;
    for (const { spec, tokenizer, session } of this.encoders) {
      const ids = texts.map((text) => tokenizer.encode(text).ids);
      const tokens = ids[0]!.length;
      const input = inputNamed(session, ['input_ids']);
      const out = await clock.run(session, { [input.name]: intTensor(input.type, ids.flat(), [ids.length, tokens]) });
      const data = toFloat32(out[spec.hiddenOutput]!);
      parts.push({ data, tokens, dim: data.length / texts.length / tokens });
      if (spec.pooledOutput) pooled = toFloat32(out[spec.pooledOutput]!);
    }
    const tokens = parts[0]!.tokens;
    if (parts.some((p) => p.tokens !== tokens)) throw new Error(`the tokenizers disagree on the sequence length (${parts.map((p) => p.tokens).join(' vs ')})`);
    const dim = parts.reduce((sum, p) => sum + p.dim, 0);
    const context = parts.length === 1 ? parts[0]!.data : concatFeatures(parts, texts.length * tokens, dim);
    return { context, shape: [texts.length, tokens, dim], pooled };
  }

  /** The UNet as the samplers' model-denoiser calls it. */
  unetCall(clock: RunClock): UNetCall {
    const sample = inputNamed(this.unet, ['sample']);
    const timestep = inputNamed(this.unet, ['timestep']);
    const context = inputNamed(this.unet, ['encoder_hidden_states']);
    const extras = EXTRA_UNET_INPUTS.filter((name) => this.unet.inputs.has(name)).map((name) => inputNamed(this.unet, [name]));
    const output = this.unet.outputNames.includes('out_sample') ? 'out_sample' : this.unet.outputNames[0]!;
    // The text context and the extras are the same arrays at every step (model-denoiser builds
    // them once): their tensors are made once too, not converted to fp16 again per step.
    const steady = new WeakMap<Float32Array, { dims: string; tensor: ort.Tensor }>();
    const steadyTensor = (type: TensorType, data: Float32Array, dims: number[]): ort.Tensor => {
      const known = steady.get(data);
      if (known && known.dims === dims.join()) return known.tensor;
      const tensor = floatTensor(type, data, dims);
      steady.set(data, { dims: dims.join(), tensor });
      return tensor;
    };
    const extraChannelCount = this.spec.inpainting ? INPAINT_EXTRA_CHANNELS : 0;
    return async (x, xShape, t, hidden, hiddenShape, given = {}, extraChannels) => {
      // Timestep layouts in the wild: a scalar, [1], or one per batch item; integer exports want whole steps.
      const tDims = timestep.shape.length === 0 ? [] : typeof timestep.shape[0] === 'number' && timestep.shape[0] === 1 ? [1] : [xShape[0]];
      const count = tDims.length === 0 ? 1 : tDims[0]!;
      const tValue = timestep.type === 'int64' || timestep.type === 'int32' ? Math.round(t) : t;
      // An inpainting UNet's mask and masked-image latents join the latents here, in fp32, so an
      // fp16 UNet gets the whole 9-channel sample converted at once (a 4-channel call is as it was).
      if (extraChannels === undefined && extraChannelCount > 0) {
        throw new Error(`the UNet is an inpainting UNet: it takes ${extraChannelCount} channels after the latents (mask, masked-image latents) and the pipeline gave none`);
      }
      if (extraChannels !== undefined && extraChannels.length !== xShape[0] * extraChannelCount * xShape[2] * xShape[3]) {
        throw new Error(extraChannelCount === 0
          ? 'the pipeline gave extra UNet channels, but this UNet takes only the latents (it is no inpainting UNet)'
          : `the inpainting UNet takes [${xShape[0]}, ${extraChannelCount}, ${xShape[2]}, ${xShape[3]}] extra channels and the pipeline gave ${extraChannels.length} values`);
      }
      const fed = extraChannels === undefined ? { data: x, shape: xShape } : concatChannels(x, extraChannels, xShape);
      const feeds = {
        [sample.name]: floatTensor(sample.type, fed.data, fed.shape),
        [timestep.name]: timestep.type === 'float32' || timestep.type === 'float16' ? floatTensor(timestep.type, new Float32Array(count).fill(tValue), tDims) : intTensor(timestep.type, new Array<number>(count).fill(tValue), tDims),
        [context.name]: steadyTensor(context.type, hidden, hiddenShape),
      };
      for (const input of extras) {
        const data = given[input.name];
        if (!data) throw new Error(`the UNet takes ${input.name} and the pipeline gave none`);
        feeds[input.name] = steadyTensor(input.type, data, [xShape[0], data.length / xShape[0]]);
      }
      const out = await clock.run(this.unet, feeds);
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

  /**
   * An image [3, H, W] in [-1, 1] → its latents [1, 4, H/8, W/8], scaled as the UNet takes them.
   * Exports differ in what vae_encoder gives: the latent distribution's mean (4 channels), or its
   * mean and log-variance (8): the mean is used either way, so the same picture gives the same latents.
   */
  async encodeImage(pixels: Float32Array, height: number, width: number, clock: RunClock): Promise<Float32Array> {
    this.vaeEncoder ??= this.openVaeEncoder();
    const session = await this.vaeEncoder;
    const input = inputNamed(session, ['sample']);
    const out = await clock.run(session, { [input.name]: floatTensor(input.type, pixels, [1, 3, height, width]) });
    const moments = toFloat32(out[session.outputNames.includes('latent_sample') ? 'latent_sample' : session.outputNames[0]!]!);
    const per = LATENT_CHANNELS * (height / 8) * (width / 8);
    const latents = moments.slice(0, per);
    for (let i = 0; i < latents.length; i++) latents[i] = latents[i]! * this.vaeScaling;
    return latents;
  }

  async release(): Promise<void> {
    const encoder = this.vaeEncoder ? [this.vaeEncoder.then((s) => s.session.release(), () => undefined)] : [];
    await Promise.all([...this.encoders.map((e) => e.session.session.release()), this.unet.session.release(), this.vaeDecoder.session.release(), ...encoder]);
  }
}

/** Rows of [rows, dim_i] side by side → [rows, Σ dim_i]. */
function concatFeatures(parts: { data: Float32Array; dim: number }[], rows: number, dim: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let offset = r * dim;
    for (const part of parts) {
      out.set(part.data.subarray(r * part.dim, (r + 1) * part.dim), offset);
      offset += part.dim;
    }
  }
  return out;
}
