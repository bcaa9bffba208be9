import crypto from 'node:crypto';

import type { handleClientStreamingCall, handleServerStreamingCall, handleUnaryCall, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';

import type { Logger } from '../log/logger.js';
import type { CallContext } from './call-context.js';
import { invalidArgument, toStatus } from './errors.js';
import { UndecodableRequest } from './request-decoding.js';

export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;
export type ClientStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, context: CallContext) => Promise<Res>;
export type ServerStreamHandler<Req, Res> = (request: Req, context: CallContext, send: (message: Res) => void) => Promise<void>;

/** Request ids are sent back as response metadata so a client can quote them. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Turns plain async handlers into grpc-js callbacks, so no handler can answer twice or forget to
 * answer, and every error goes through toStatus().
 */
export class HandlerAdapter {
  constructor(private readonly logger: Logger) {}

  unary<Req, Res>(method: string, handler: UnaryHandler<Req, Res>): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const context = this.contextFor(call);
      Promise.resolve(call.request).then((request) => handler(decoded(request), context)).then(
        (response) => callback(null, response),
        (error: unknown) => callback(this.failure(method, context, error)),
      );
    };
  }

  clientStream<Req, Res>(method: string, handler: ClientStreamHandler<Req, Res>): handleClientStreamingCall<Req, Res> {
    return (call, callback) => {
      const context = this.contextFor(call);
      handler(eachDecoded(call), context).then(
        (response) => callback(null, response),
        (error: unknown) => callback(this.failure(method, context, error)),
      );
    };
  }

  serverStream<Req, Res>(method: string, handler: ServerStreamHandler<Req, Res>): handleServerStreamingCall<Req, Res> {
    return (call) => {
      const context = this.contextFor(call);
      const send = (message: Res) => {
        if (!call.cancelled) call.write(message);
      };
      Promise.resolve(call.request).then((request) => handler(decoded(request), context, send)).then(
        () => call.end(),
        // grpc-js turns an 'error' on a server stream into the call's status.
        (error: unknown) => call.emit('error', this.failure(method, context, error)),
      );
    };
  }

  private contextFor(call: ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerWritableStream<unknown, unknown>): CallContext {
    // accessLogInterceptor put the id in; it also adds it to the metadata sent here.
    const requestId = String(call.metadata.get(REQUEST_ID_HEADER)[0] ?? crypto.randomUUID());
    const controller = new AbortController();
    (call as NodeJS.EventEmitter).once('cancelled', () => controller.abort(new Error('call cancelled')));
    call.sendMetadata(new Metadata());
    return { requestId, signal: controller.signal, peer: call.getPeer() };
  }

  private failure(method: string, context: CallContext, error: unknown) {
    const { code, details, internal } = toStatus(error, context.requestId);
    if (internal) this.logger.error('request failed', { requestId: context.requestId, method, error });
    return { code, details };
  }
}

/** The request, or the INVALID_ARGUMENT its undecodable bytes deserve (see request-decoding.ts). */
function decoded<Req>(request: Req | UndecodableRequest): Req {
  if (request instanceof UndecodableRequest) throw invalidArgument(request.reason);
  return request;
}

/** A client stream's messages, failing with INVALID_ARGUMENT at the first one that did not decode. */
async function* eachDecoded<Req>(messages: AsyncIterable<Req | UndecodableRequest>): AsyncIterable<Req> {
  for await (const message of messages) yield decoded(message);
}
