import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status, type ServerInterceptor } from '@grpc/grpc-js';

import type { Metrics } from './types.js';

/**
 * One `call` metric per RPC: method path, status code name, duration — taken where the status goes
 * out (like accessLogInterceptor), or CANCELLED when the client goes away first. Put it before the
 * auth interceptor in the server's list so that it also sees the statuses auth sends.
 */
export function metricsInterceptor(metrics: Metrics): ServerInterceptor {
  return (method, call) => {
    const started = process.hrtime.bigint();
    let recorded = false;
    const record = (code: string) => {
      if (recorded) return;
      recorded = true;
      metrics.call(method.path, code, Number(process.hrtime.bigint() - started) / 1e6);
    };
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder()
        .withStart((next) => next(new ServerListenerBuilder().withOnCancel(() => record(status[status.CANCELLED])).build()))
        .withSendStatus((sent, next) => {
          record(status[sent.code ?? status.OK] ?? String(sent.code));
          next(sent);
        })
        .build(),
    );
  };
}
