/**
 * The transport ceiling for bench/upload-throughput: a bare Node HTTP/2 server over TLS (the same
 * certificate as the `dts-util serve` under test, its own process) that reads each request body
 * and throws it away, with the same flow-control windows as the server. With `--sha256` it also
 * hashes the body, as UploadFile must. No gRPC framing, protobuf, disk or grpc-js: what moving the
 * bytes alone costs on this machine.
 *
 *   node dist/bench/http2-sink-server.js <tls dir> [--sha256]   → prints the port it listens on
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';

import { tuneGarbageCollection } from '../src/runtime/gc-tuning.js';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../src/server/flow-control.js';

const tlsDir = process.argv[2];
if (!tlsDir) throw new Error('usage: http2-sink-server.js <tls dir> [--sha256]');
const hashing = process.argv.includes('--sha256');
// Tuned as every dts-util process is, so the difference from the server is the work, not V8's settings.
tuneGarbageCollection();

const server = http2.createSecureServer({
  cert: fs.readFileSync(path.join(tlsDir, 'server.pem')),
  key: fs.readFileSync(path.join(tlsDir, 'server-key.pem')),
  settings: { initialWindowSize: STREAM_WINDOW_BYTES },
});
server.on('session', (session) => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
server.on('stream', (stream) => {
  const hash = hashing ? crypto.createHash('sha256') : undefined;
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash?.update(chunk);
  });
  stream.on('end', () => {
    stream.respond({ ':status': 200 });
    stream.end(`${bytes} ${hash?.digest('hex') ?? ''}`);
  });
});
server.listen(0, '127.0.0.1', () => console.log((server.address() as { port: number }).port));
process.on('SIGTERM', () => process.exit(0));
