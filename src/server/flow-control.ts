import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';

import type { Server } from '@grpc/grpc-js';

import type { Logger } from '../log/logger.js';

/**
 * HTTP/2 receive windows for uploads. With Node's default 64 KiB windows a client may have only
 * 64 KiB in flight, then waits a round trip for WINDOW_UPDATE: a model upload crawls. Windows
 * bound memory too: at most this much unread data per stream / per connection.
 */
export const STREAM_WINDOW_BYTES = 8 * 2 ** 20;
export const CONNECTION_WINDOW_BYTES = 32 * 2 ** 20;

/** The grpc-js option for this; grpc-js 1.14 reads it on the client only (grpc/grpc-node PR #3058 adds the server). */
export const FLOW_CONTROL_OPTION = { 'grpc-node.flow_control_window': STREAM_WINDOW_BYTES };

/** The grpc-js Server internals the workaround touches; private, so each is checked before use. */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server | Http2SecureServer, unknown>;
}

/** Before binding: advertise a larger per-stream window in every new session's SETTINGS. */
export function raiseStreamWindow(server: Server, logger: Logger): void {
  const internals = server as unknown as ServerInternals;
  if (!internals.commonServerOptions) {
    logger.debug('grpc-js changed: cannot raise the HTTP/2 stream window; uploads will be slower');
    return;
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: STREAM_WINDOW_BYTES };
}

/** After binding: raise each new connection's window (only settable per session). */
export function raiseConnectionWindow(server: Server, logger: Logger): void {
  const servers = (server as unknown as ServerInternals).http2Servers;
  if (!(servers instanceof Map)) {
    logger.debug('grpc-js changed: cannot raise the HTTP/2 connection window; uploads will be slower');
    return;
  }
  for (const http2Server of servers.keys()) {
    http2Server.on('session', (session: ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch (error) {
        logger.debug('could not raise an HTTP/2 connection window', { reason: (error as Error).message });
      }
    });
  }
}
