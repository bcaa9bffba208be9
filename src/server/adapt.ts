import crypto from 'node:crypto';

import type { handleBidiStreamingCall, handleClientStreamingCall, handleServerStreamingCall, handleUnaryCall, ServerDuplexStream, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';

import type { Logger } from '../log/logger.js';
import type { CallContext } from './call-context.js';
import { invalidArgument, toStatus } from './errors.js';
import type { OpenCalls } from './open-calls.js';
import { UndecodableRequest } from './request-decoding.js';

export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;
export type ClientStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, context: CallContext) => Promise<Res>;
export type ServerStreamHandler<Req, Res> = (request: Req, context: CallContext, send: (message: Res) => void) => Promise<void>;
export type BidiStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, context: CallContext, send: (message: Res) => void) => Promise<void>;

/** Request ids are sent back as response metadata so a client can quote them. */
export const REQUEST_ID_HEADER = 'x-request-id';

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** How one call is answered: with a response (undefined for a stream's end) or a failure status. */
type Reply<Res> = (failure: { code: number; details: string } | null, response?: Res) => void;

/**
 * Turns plain async handlers into grpc-js callbacks, so no handler can answer twice or forget to
 * answer, and every error goes through toStatus(). Each call stays in `openCalls` until it is
 * answered, so shutdown can answer it first (the handler's later answer is then dropped).
 */
export class HandlerAdapter {
  constructor(
    private readonly logger: Logger,
    private readonly openCalls: OpenCalls,
  ) {}

  unary<Req, Res>(method: string, handler: UnaryHandler<Req, Res>): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const { context, settle } = this.open<Res>(method, call, (failure, response) => (failure ? callback(failure) : callback(null, response)), true);
      settle((async () => handler(decoded(call.request), context))());
    };
  }

  clientStream<Req, Res>(method: string, handler: ClientStreamHandler<Req, Res>): handleClientStreamingCall<Req, Res> {
    return (call, callback) => {
      const { context, settle } = this.open<Res>(method, call, (failure, response) => (failure ? callback(failure) : callback(null, response)));
      settle(handler(eachDecoded(call), context));
    };
  }

  serverStream<Req, Res>(method: string, handler: ServerStreamHandler<Req, Res>): handleServerStreamingCall<Req, Res> {
    return (call) => {
      const { context, settle, send } = this.openStream<Res>(method, call);
      settle((async () => handler(decoded(call.request), context, send))());
    };
  }

  bidiStream<Req, Res>(method: string, handler: BidiStreamHandler<Req, Res>): handleBidiStreamingCall<Req, Res> {
    return (call) => {
      const { context, settle, send } = this.openStream<Res>(method, call);
      // Read without the iterator's default destroy at the end: that would destroy the duplex
      // stream's writing side too, and the answers still to come would be dropped.
      settle(handler(eachDecoded(call.iterator({ destroyOnReturn: false }) as AsyncIterable<Req | UndecodableRequest>), context, send));
    };
  }

  /** open() for a call that answers with a stream: its writer stops once the client is gone or the call was answered. */
  private openStream<Res>(method: string, call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>) {
    // grpc-js turns an 'error' on a server stream into the call's status.
    const { context, settle, answered } = this.open<void>(method, call, (failure) => (failure ? call.emit('error', failure) : call.end()));
    const send = (message: Res) => {
      if (!call.cancelled && !answered()) call.write(message);
    };
    return { context, settle, send };
  }

  /** The call's context, and the one way it is answered: by its handler's outcome or by shutdown, whichever comes first. */
  private open<Res>(method: string, call: AnyCall, reply: Reply<Res>, unary = false) {
    // accessLogInterceptor put the id in; it also adds it to the metadata sent here.
    const requestId = String(call.metadata.get(REQUEST_ID_HEADER)[0] ?? crypto.randomUUID());
    const controller = new AbortController();
    const context: CallContext = { requestId, signal: controller.signal, peer: call.getPeer() };
    let done = false;
    const answer = (failure: { code: number; details: string } | null, response?: Res) => {
      if (done) return;
      done = true;
      forget();
      reply(failure, response);
    };
    const forget = this.openCalls.add({
      end: (error) => {
        answer(this.failure(method, context, error));
        controller.abort(error);
      },
    });
    (call as NodeJS.EventEmitter).once('cancelled', () => {
      // The client is gone: there is nobody left to answer.
      done = true;
      forget();
      controller.abort(new Error('call cancelled'));
    });
    // A unary call's headers go with its answer: a server that dies first has sent nothing, so a
    // proxy in front (the HAProxy balancer) may send the call again to another server.
    if (!unary) call.sendMetadata(new Metadata());
    const settle = (outcome: Promise<Res>) =>
      outcome.then(
        (response) => answer(null, response),
        (error: unknown) => {
          if (!done) answer(this.failure(method, context, error));
        },
      );
    return { context, settle, answered: () => done };
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
