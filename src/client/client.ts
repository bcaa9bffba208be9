import { credentials, makeGenericClientConstructor, Metadata, type CallOptions, type Client, type InterceptingCall, type Interceptor, InterceptingCall as InterceptingCallClass, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

import { ImageGenerationServiceClient, ImageGenerationServiceService } from '../generated/image_generation.js';
import { encodeUploadFileRequest } from './upload-encoding.js';

/** The generated client with a leaner UploadFile serializer (see upload-encoding.ts). */
const ServiceClient = makeGenericClientConstructor(
  { ...ImageGenerationServiceService, uploadFile: { ...ImageGenerationServiceService.uploadFile, requestSerialize: encodeUploadFileRequest } },
  'drawthings.ImageGenerationService',
) as unknown as typeof ImageGenerationServiceClient;

const LOOPBACK_IP = /^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/;
const IP_ADDRESS = /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:.]+\]):\d+$/;

export interface ConnectOptions {
  /** host:port ([v6]:port for IPv6). */
  address: string;
  tls: boolean;
  /** PEM of the CA that signed the server's certificate (the install's own CA). */
  caPem?: string | undefined;
  /** The name the certificate carries, when dialling an IP address it does not name (a supplied certificate's). */
  serverName?: string | undefined;
  sharedSecret?: string | undefined;
}

export interface Connection {
  service: ImageGenerationServiceClient;
  health: Client;
  close(): void;
}

/**
 * A client for the server: TLS verified against the given CA, and the shared secret (when set)
 * sent as `authorization: Bearer …` metadata by an interceptor. grpc-js refuses call credentials
 * on plaintext channels, and a --no-tls server may still want the secret, so it is not one.
 */
export function connect({ address, tls, caPem, serverName, sharedSecret }: ConnectOptions): Connection {
  const channelCredentials = tls ? credentials.createSsl(caPem ? Buffer.from(caPem) : null) : credentials.createInsecure();
  const interceptors = sharedSecret ? [bearerInterceptor(sharedSecret)] : [];
  const options = {
    interceptors,
    'grpc.max_receive_message_length': 256 * 2 ** 20,
    // TLS forbids an IP address as the server name; every certificate this tool makes names
    // localhost, and a supplied one names its host.
    ...(tls && serverName && IP_ADDRESS.test(address) ? { 'grpc.ssl_target_name_override': serverName } : tls && LOOPBACK_IP.test(address) ? { 'grpc.ssl_target_name_override': 'localhost' } : {}),
  };
  const service = new ServiceClient(address, channelCredentials, options);
  const HealthClient = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
  // Share the service client's channel: one connection, one TLS handshake.
  const health = new HealthClient(address, channelCredentials, { channelOverride: service.getChannel() });
  return {
    service,
    health,
    close() {
      health.close();
      service.close();
    },
  };
}

function bearerInterceptor(secret: string): Interceptor {
  return (options, nextCall): InterceptingCall =>
    new InterceptingCallClass(nextCall(options), {
      start(metadata: Metadata, listener, next) {
        metadata.set('authorization', `Bearer ${secret}`);
        next(metadata, listener);
      },
    });
}

/** A grpc-js unary client method, as generated clients and generic ones expose it. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** Calls a unary method as a promise with a deadline. */
export function unaryCall<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, request: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';
const HEALTH_NAMES: HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** grpc.health.v1 Check for one service ("" = the whole server). */
export async function checkHealth(connection: Connection, service: string, timeoutMs: number): Promise<HealthStatus> {
  const { check } = connection.health as unknown as { check: UnaryMethod<{ service: string }, { status: string | number }> };
  const response = await unaryCall(connection.health, check, { service }, timeoutMs);
  return typeof response.status === 'number' ? (HEALTH_NAMES[response.status] ?? 'UNKNOWN') : (response.status as HealthStatus);
}
