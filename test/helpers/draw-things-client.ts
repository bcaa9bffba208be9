import crypto from 'node:crypto';

import { credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import * as flatbuffers from 'flatbuffers';

import { GenerationConfiguration, LoRA, type SamplerType, type SeedMode } from '../../src/generated/draw_things_config_generated.js';
import {
  ChunkState,
  DeviceType,
  ImageGenerationServiceService,
  type EchoReply,
  type EchoRequest,
  type FileExistenceResponse,
  type FileListRequest,
  type FileUploadRequest,
  type ImageGenerationRequest,
  type ImageGenerationResponse,
  type ImageGenerationServiceClient,
  type UploadResponse,
} from '../../src/generated/draw_things_image_service.js';
import type { TestServer } from './test-server.js';

const DrawThingsClient = makeGenericClientConstructor(ImageGenerationServiceService, 'ImageGenerationService') as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createSsl>,
  options: Record<string, unknown>,
) => ImageGenerationServiceClient;

/**
 * A client of the Draw Things contract built from the generated code, over the test server's
 * real TLS (verified against the install's CA). It sends no metadata: this protocol's secret
 * travels in the requests.
 */
export function drawThingsClient(t: TestServer): ImageGenerationServiceClient {
  // Room for an unchunked 1024² image (6 MiB), as the app's own client allows far more.
  return new DrawThingsClient(t.address, credentials.createSsl(Buffer.from(t.caPem!)), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.max_receive_message_length': 64 * 2 ** 20 });
}

const deadline = () => ({ deadline: Date.now() + 30_000 });

export function dtEcho(client: ImageGenerationServiceClient, request: Partial<EchoRequest>): Promise<EchoReply> {
  return new Promise((resolve, reject) => client.echo({ name: '', ...request }, new Metadata(), deadline(), (error, reply) => (error ? reject(error) : resolve(reply))));
}

export function dtFilesExist(client: ImageGenerationServiceClient, request: Partial<FileListRequest>): Promise<FileExistenceResponse> {
  return new Promise((resolve, reject) => client.filesExist({ files: [], filesWithHash: [], ...request }, new Metadata(), deadline(), (error, reply) => (error ? reject(error) : resolve(reply))));
}

export interface DtUploadOutcome {
  responses: UploadResponse[];
  error?: ServiceError;
}

/** Sends `messages` on the app's bidirectional UploadFile and collects every answer, and the failure if there is one. */
export function dtUpload(client: ImageGenerationServiceClient, messages: FileUploadRequest[]): Promise<DtUploadOutcome> {
  return new Promise((resolve) => {
    const responses: UploadResponse[] = [];
    const call = client.uploadFile(new Metadata(), deadline());
    call.on('data', (response: UploadResponse) => responses.push(response));
    call.on('error', (error: ServiceError) => resolve({ responses, error }));
    call.on('end', () => resolve({ responses }));
    for (const message of messages) call.write(message);
    call.end();
  });
}

/** The messages the app sends for one file: initRequest, then chunks of `chunkBytes` at their offsets. */
export function dtUploadMessages(filename: string, content: Buffer, chunkBytes: number, sharedSecret?: string): FileUploadRequest[] {
  const sha256 = crypto.createHash('sha256').update(content).digest();
  const messages: FileUploadRequest[] = [{ initRequest: { filename, sha256, totalSize: content.length }, chunk: undefined, sharedSecret }];
  for (let offset = 0; offset < content.length; offset += chunkBytes) {
    messages.push({ initRequest: undefined, chunk: { content: content.subarray(offset, offset + chunkBytes), filename, offset }, sharedSecret });
  }
  return messages;
}

/** What a test sets in a configuration; sizes in pixels (written in the app's 64-pixel units). */
export interface DtConfig {
  width?: number;
  height?: number;
  seed?: number;
  steps?: number;
  guidanceScale?: number;
  model?: string;
  sampler?: SamplerType;
  batchCount?: number;
  batchSize?: number;
  hiresFix?: { width: number; height: number; strength: number };
  clipSkip?: number;
  loras?: { file: string; weight: number }[];
  seedMode?: SeedMode;
  strength?: number;
  maskBlur?: number;
}

/** A GenerationConfiguration FlatBuffer, built the way the app builds it (FlatBuffers' own builder). */
export function dtConfiguration(config: DtConfig): Buffer {
  const builder = new flatbuffers.Builder(256);
  const model = config.model === undefined ? 0 : builder.createString(config.model);
  const loraOffsets = (config.loras ?? []).map((l) => {
    const file = builder.createString(l.file);
    LoRA.startLoRA(builder);
    LoRA.addFile(builder, file);
    LoRA.addWeight(builder, l.weight);
    return LoRA.endLoRA(builder);
  });
  const loras = loraOffsets.length > 0 ? GenerationConfiguration.createLorasVector(builder, loraOffsets) : 0;
  const G = GenerationConfiguration;
  G.startGenerationConfiguration(builder);
  if (config.width !== undefined) G.addStartWidth(builder, config.width / 64);
  if (config.height !== undefined) G.addStartHeight(builder, config.height / 64);
  if (config.seed !== undefined) G.addSeed(builder, config.seed);
  if (config.seedMode !== undefined) G.addSeedMode(builder, config.seedMode);
  if (config.steps !== undefined) G.addSteps(builder, config.steps);
  if (config.guidanceScale !== undefined) G.addGuidanceScale(builder, config.guidanceScale);
  if (model) G.addModel(builder, model);
  if (config.sampler !== undefined) G.addSampler(builder, config.sampler);
  if (config.batchCount !== undefined) G.addBatchCount(builder, config.batchCount);
  if (config.batchSize !== undefined) G.addBatchSize(builder, config.batchSize);
  if (config.hiresFix) {
    G.addHiresFix(builder, true);
    G.addHiresFixStartWidth(builder, config.hiresFix.width / 64);
    G.addHiresFixStartHeight(builder, config.hiresFix.height / 64);
    G.addHiresFixStrength(builder, config.hiresFix.strength);
  }
  if (config.clipSkip !== undefined) G.addClipSkip(builder, config.clipSkip);
  if (config.strength !== undefined) G.addStrength(builder, config.strength);
  if (config.maskBlur !== undefined) G.addMaskBlur(builder, config.maskBlur);
  if (loras) G.addLoras(builder, loras);
  G.finishGenerationConfigurationBuffer(builder, G.endGenerationConfiguration(builder));
  return Buffer.from(builder.asUint8Array());
}

/** A request as the app sends one: prompt, configuration, user and device; no image. */
export function dtRequest(config: DtConfig | Buffer, extra: Partial<ImageGenerationRequest> = {}): ImageGenerationRequest {
  return {
    scaleFactor: 1,
    hints: [],
    prompt: 'a photo of a cat',
    negativePrompt: 'blurry',
    configuration: Buffer.isBuffer(config) ? config : dtConfiguration(config),
    override: undefined,
    keywords: [],
    user: 'test',
    device: DeviceType.LAPTOP,
    contents: [],
    chunked: false,
    ...extra,
  };
}

export interface DtGenerateOutcome {
  responses: ImageGenerationResponse[];
  error?: ServiceError;
}

/** Runs GenerateImage and collects every response, and the failure if there is one. */
export function dtGenerate(client: ImageGenerationServiceClient, request: ImageGenerationRequest, timeoutMs = 120_000): Promise<DtGenerateOutcome> {
  return new Promise((resolve) => {
    const responses: ImageGenerationResponse[] = [];
    const call = client.generateImage(request, new Metadata(), { deadline: Date.now() + timeoutMs });
    call.on('data', (response: ImageGenerationResponse) => responses.push(response));
    call.on('error', (error: ServiceError) => resolve({ responses, error }));
    call.on('end', () => resolve({ responses }));
  });
}

/** The images of a response stream, each piece of a chunked image joined to the next until LAST_CHUNK. */
export function dtImages(responses: ImageGenerationResponse[]): Buffer[] {
  const images: Buffer[] = [];
  let pending: Buffer[] = [];
  for (const r of responses) {
    for (const piece of r.generatedImages) {
      pending.push(piece);
      if (r.chunkState === ChunkState.LAST_CHUNK) {
        images.push(Buffer.concat(pending));
        pending = [];
      }
    }
  }
  return images;
}
