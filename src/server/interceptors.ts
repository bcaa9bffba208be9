import crypto from 'node:crypto';

import { Metadata, ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status, type ServerInterceptor, type ServerListener } from '@grpc/grpc-js';

import type { Logger } from '../log/logger.js';
import { REQUEST_ID_HEADER } from './adapt.js';
import { DRAW_THINGS_PATH_PREFIX } from './draw-things/service.js';

/**
 * Services the metadata check lets through: probes and tools must work unauthenticated, and the
 * Draw Things contract carries its secret in each request's sharedSecret field, which its own
 * handlers check (src/server/draw-things/shared-secret.ts).
 */
const OPEN_SERVICES = ['/grpc.health.v1.Health/', '/grpc.reflection.v1.ServerReflection/', '/grpc.reflection.v1alpha.ServerReflection/', DRAW_THINGS_PATH_PREFIX];

/**
 * One access-log line per call (method, status, duration, peer) and a request id that the handler
 * sees as incoming metadata and the client gets back as response metadata.
 */
/**
 * Liveness probes that succeed are logged at debug: Kubernetes and load balancers call them every
 * few seconds, and a line each would bury the calls people read logs for (and cost the event loop
 * a synchronous write each). Failed probes are logged like any failed call.
 */
const PROBES = new Set(['/drawthings.ImageGenerationService/Echo', '/grpc.health.v1.Health/Check']);

export function accessLogInterceptor(logger: Logger): ServerInterceptor {
  return (method, call) => {
    const requestId = crypto.randomUUID();
    const started = process.hrtime.bigint();
    let logged = false;
    const log = (code: status, details: string | undefined) => {
      if (logged) return;
      logged = true;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const level = code === status.OK ? (PROBES.has(method.path) ? 'debug' : 'info') : code === status.INTERNAL || code === status.UNKNOWN ? 'error' : 'warn';
      logger[level]('call', {
        requestId,
        method: method.path,
        code: status[code],
        durationMs: Math.round(durationMs * 100) / 100,
        peer: call.getPeer(),
        ...(code === status.OK ? {} : { details }),
      });
    };
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder()
        .withStart((next) =>
          next(
            new ServerListenerBuilder()
              .withOnReceiveMetadata((metadata, nextMetadata) => {
                metadata.set(REQUEST_ID_HEADER, requestId);
                nextMetadata(metadata);
              })
              // A client that goes away gets no status, so the line is written here instead.
              .withOnCancel(() => log(status.CANCELLED, 'the client cancelled the call or went away'))
              .build(),
          ),
        )
        .withSendMetadata((metadata, next) => {
          metadata.set(REQUEST_ID_HEADER, requestId);
          next(metadata);
        })
        .withSendStatus((sent, next) => {
          log(sent.code ?? status.OK, sent.details);
          next(sent);
        })
        .build(),
    );
  };
}

/**
 * With a shared secret, every call outside OPEN_SERVICES must carry `authorization: Bearer <secret>`.
 * The comparison runs in constant time over SHA-256 digests, so neither the secret's content nor
 * its length leaks through timing.
 */
export function sharedSecretInterceptor(secret: string): ServerInterceptor {
  const expected = digest(secret);
  return (method, call) => {
    if (OPEN_SERVICES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder()
        .withStart(
          onIncomingMetadata((metadata, nextMetadata) => {
            const problem = checkAuthorization(metadata, expected);
            if (problem) call.sendStatus({ code: status.UNAUTHENTICATED, details: problem, metadata: new Metadata() });
            else nextMetadata(metadata);
          }),
        )
        .build(),
    );
  };
}

/** A start responder whose only business is the client's metadata. */
function onIncomingMetadata(listener: (metadata: Metadata, next: (metadata: Metadata) => void) => void): (next: (listener: ServerListener) => void) => void {
  return (next) => next(new ServerListenerBuilder().withOnReceiveMetadata(listener).build());
}

function checkAuthorization(metadata: Metadata, expected: Buffer): string | undefined {
  const values = metadata.get('authorization');
  if (values.length === 0) return 'this server requires a shared secret: send metadata "authorization: Bearer <secret>" (dts-util: --shared-secret or DTS_UTIL_SHARED_SECRET)';
  const match = /^Bearer (.+)$/i.exec(String(values[0]));
  if (values.length !== 1 || !match?.[1]) return 'malformed authorization metadata: expected exactly one "Bearer <secret>"';
  if (!crypto.timingSafeEqual(digest(match[1]), expected)) return 'the shared secret is wrong';
  return undefined;
}

function digest(value: string): Buffer {
  return crypto.createHash('sha256').update(value, 'utf8').digest();
}
