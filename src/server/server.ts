import path from 'node:path';

import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

import { UsageError } from '../config/errors.js';
import { modelInventory } from '../diffusion/model-inventory.js';
import { Engine } from '../engine/engine.js';
import type { GenerationResult } from '../engine/messages.js';
import { makeWritableDirectorySync } from '../util/make-directory.js';
import { createMetrics, metricsInterceptor } from '../metrics/index.js';
import { isLoopbackHost, type ServerSettings } from '../config/settings.js';
import { ImageGenerationServiceService, type ImageGenerationServiceServer } from '../generated/image_generation.js';
import type { Logger } from '../log/logger.js';
import { routeGrpcLogging } from '../log/grpc-logging.js';
import { certificateNames, ensureCertificates, type Certificates } from '../tls/certificates.js';
import { loadSuppliedCertificate, type SuppliedCertificate } from '../tls/supplied-certificate.js';
import { HandlerAdapter } from './adapt.js';
import { OpenCalls, shuttingDownError } from './open-calls.js';
import { serverTlsCredentials } from './tls-credentials.js';
import { selectDevice, type DeviceSelection } from '../diffusion/device-probe.js';
import { echo } from './handlers/echo.js';
import { filesExist } from './handlers/files-exist.js';
import { generateImage, generateImageStream } from './handlers/generate-image.js';
import { uploadFile } from './handlers/upload-file.js';
import { decodeUploadFileRequest } from './upload-decoding.js';
import { withExplainedDecodeErrors } from './request-decoding.js';
import { MAX_MESSAGE_BYTES } from '../util/message-limit.js';
import { PROTO_FILE, SERVICE_NAME } from '../util/package-root.js';
import { addHealthAndReflection } from './health-and-reflection.js';
import { startAgentCheck } from './agent-check.js';
import { addDrawThingsService } from './draw-things/service.js';
import { accessLogInterceptor, sharedSecretInterceptor } from './interceptors.js';
import { FLOW_CONTROL_OPTION, raiseConnectionWindow, raiseStreamWindow } from './flow-control.js';
import { bindAll } from './listen.js';
import { advertise } from './bonjour.js';
import { STAGING_DIR } from './models-dir.js';
import { removeStaleUploads } from './staging-files.js';
import { reportGeneration } from './report-generation.js';
import { serverStatus } from './handlers/server-status.js';
import type { IntakeStats } from '../log/datadog-intake.js';

/** The generated service with UploadFile's data decoded as a view, not a copy (see upload-decoding.ts). */
const LEAN_UPLOAD_SERVICE = {
  ...ImageGenerationServiceService,
  uploadFile: { ...ImageGenerationServiceService.uploadFile, requestDeserialize: decodeUploadFileRequest },
};


/** How long the calls ended at shutdown get for their statuses to reach the clients before the connections are cut. */
const STATUS_FLUSH_MS = 2_000;

export interface RunningServer {
  port: number;
  /** host:port strings actually bound. */
  addresses: string[];
  /** The install CA's certificates, when TLS is on and no certificate was supplied. */
  certificates: Certificates | undefined;
  /** The certificate given with --tls-cert / --tls-key, when one was. */
  supplied: SuppliedCertificate | undefined;
  /** The mDNS instance name (`<host>_tls`) when the server advertises itself. */
  bonjourName: string | undefined;
  engine: Engine;
  /** The HAProxy agent-check port (serve --agent-port), when one is open. */
  agentPort: number | undefined;
  /** The devices found at start-up, the one chosen and why (the start-up log and Echo say it). */
  devices: DeviceSelection;
  /** Health NOT_SERVING → drain in-flight calls for up to graceMs → cancel what is left. */
  shutdown(graceMs: number): Promise<void>;
}

export interface ServerExtras {
  /** The Datadog log shipper's state, when logs are shipped (ServerStatus reports it). */
  logStats?: () => IntakeStats | undefined;
}

export async function startServer(settings: ServerSettings, logger: Logger, extras: ServerExtras = {}): Promise<RunningServer> {
  if (!isLoopbackHost(settings.host) && !settings.tls && !settings.sharedSecret) {
    throw new UsageError(
      `refusing to listen on ${settings.host} without TLS and without a shared secret: anyone on the network could use this server`,
      'drop --no-tls, or set a shared secret (DTS_UTIL_SHARED_SECRET or --shared-secret-file), or listen on loopback only',
    );
  }
  try {
    makeWritableDirectorySync(settings.modelsDir);
  } catch (error) {
    throw new UsageError(`the models directory ${settings.modelsDir} cannot be created or written (${(error as NodeJS.ErrnoException).code})`, 'choose another with --model-path');
  }
  await removeStaleUploads(path.join(settings.modelsDir, STAGING_DIR), logger);

  // Before listening: with fallback off, an unusable device must stop the start-up.
  const devices = await selectDevice({ requested: settings.device, gpu: settings.gpu, fallback: settings.deviceFallback });

  // A certificate the user brought (Let's Encrypt: what the Draw Things app trusts), else the install CA's.
  const supplied = settings.tls && settings.tlsCert && settings.tlsKey ? loadSuppliedCertificate(settings.tlsCert, settings.tlsKey) : undefined;
  const certificates = settings.tls && !supplied ? ensureCertificates(settings.paths.tlsDir, certificateNames(settings.host)) : undefined;
  const credentials = supplied
    ? serverTlsCredentials(supplied.certPem, supplied.keyPem)
    : certificates
      ? serverTlsCredentials(certificates.serverCertPem, certificates.serverKeyPem)
      : ServerCredentials.createInsecure();

  routeGrpcLogging(logger);
  const metrics = createMetrics({ enabled: settings.metrics, env: process.env, logger, device: devices.chosen });
  const server = new Server({
    // Metrics before the secret check, so refused calls are counted with their status.
    interceptors: [accessLogInterceptor(logger), metricsInterceptor(metrics), ...(settings.sharedSecret ? [sharedSecretInterceptor(settings.sharedSecret)] : [])],
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    ...FLOW_CONTROL_OPTION,
  });
  raiseStreamWindow(server, logger);
  const engine = new Engine({ logger, maxQueue: settings.maxQueue, device: devices.order.join(','), gpu: settings.gpu, gpus: settings.workerGpus, libraryDirs: devices.libraryDirs, graphOptimize: settings.graphOptimize, memoryBudget: settings.memoryBudget, onQueue: (depth, waitMs) => metrics.queue(depth, waitMs), onWorkers: (busy) => metrics.workers(busy) });
  const generation = { engine, modelsDir: settings.modelsDir, defaultModel: settings.defaultModel, onGenerated: (model: string, result: GenerationResult, requestId: string) => reportGeneration(metrics, logger, model, result, requestId) };
  const openCalls = new OpenCalls();
  const adapter = new HandlerAdapter(logger, openCalls);
  const receiveUpload = uploadFile({ ...settings, logger, onUpload: (bytes, ok) => metrics.upload(bytes, ok) });
  const service: ImageGenerationServiceServer = {
    echo: adapter.unary('Echo', echo(devices, () => engine.workers)),
    filesExist: adapter.unary('FilesExist', filesExist(settings.modelsDir)),
    generateImage: adapter.unary('GenerateImage', generateImage(generation)),
    generateImageStream: adapter.serverStream('GenerateImageStream', generateImageStream(generation)),
    uploadFile: adapter.clientStream('UploadFile', receiveUpload),
    listModels: adapter.unary('ListModels', async () => ({ models: modelInventory(settings.modelsDir, settings.defaultModel) })),
    serverStatus: adapter.unary('ServerStatus', serverStatus(settings, devices.chosen, engine, extras.logStats ?? (() => undefined))),
  };
  // Requests that do not decode (a seed of 2^64) get INVALID_ARGUMENT naming the field, not INTERNAL.
  server.addService(withExplainedDecodeErrors(LEAN_UPLOAD_SERVICE, loadSync(PROTO_FILE, { keepCase: true }), SERVICE_NAME), service);
  addDrawThingsService(server, { adapter, generation, configDir: settings.paths.configDir, sharedSecret: settings.sharedSecret, receiveUpload });
  const health = addHealthAndReflection(server);

  const { port, addresses } = await bindAll(server, settings.host, settings.port, credentials, logger);
  raiseConnectionWindow(server, logger);
  let serving = true;
  const agent = settings.agentPort === undefined ? undefined : await startAgentCheck(settings.host, settings.agentPort, () => serving, logger);
  // Only a server others can reach is worth announcing to the local network.
  const advertisement = settings.bonjour && !isLoopbackHost(settings.host) ? advertise(port, settings.tls, logger) : undefined;

  return {
    port,
    addresses,
    certificates,
    supplied,
    bonjourName: advertisement?.name,
    engine,
    agentPort: agent?.port,
    devices,
    async shutdown(graceMs) {
      health.setServing(false);
      serving = false;
      // Gone from the app's server list at once, not when the record's TTL runs out.
      await advertisement?.stop();
      // tryShutdown takes no new calls and calls back once every connection has closed, which
      // each does as soon as its last call is answered.
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      if (!(await settlesWithin(drained, graceMs))) {
        const ended = openCalls.endAll(shuttingDownError(graceMs));
        logger.warn('calls still running after the shutdown grace period; the server ended them with UNAVAILABLE', { graceMs, ended });
        void engine.close();
        // Their statuses are on their way: let the connections carry them before cutting what is left.
        if (!(await settlesWithin(drained, STATUS_FLUSH_MS))) server.forceShutdown();
      }
      await engine.close();
      await agent?.close();
      await metrics.close();
    },
  };
}

/** Whether `promise` settles within `ms` (the timer does not outlive the answer). */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}
