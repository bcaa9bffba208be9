/**
 * The floor for bench/generate's Echo latency: a bare grpc-js server that answers Echo and nothing
 * else (no interceptors, logging, metrics or engine), over TLS with the same certificate as the
 * `dts-util serve` under test, in a process of its own. Probed while that server generates, it
 * shows what any grpc-js server can do on this machine under the same load.
 *
 *   node dist/bench/echo-floor-server.js <tls dir>   → prints the port it listens on
 */
import fs from 'node:fs';
import path from 'node:path';

import { Server, ServerCredentials } from '@grpc/grpc-js';

import { EchoResponse, ImageGenerationServiceService } from '../src/generated/image_generation.js';

const tlsDir = process.argv[2];
if (!tlsDir) throw new Error('usage: echo-floor-server.js <tls dir>');

const reply = EchoResponse.fromPartial({ message: 'HELLO' });
const server = new Server();
server.addService({ echo: ImageGenerationServiceService.echo }, { echo: (_call: unknown, callback: (error: null, response: EchoResponse) => void) => callback(null, reply) });
const credentials = ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(path.join(tlsDir, 'server.pem')), private_key: fs.readFileSync(path.join(tlsDir, 'server-key.pem')) }]);
server.bindAsync('127.0.0.1:0', credentials, (error, port) => {
  if (error) throw error;
  console.log(port);
});
process.on('SIGTERM', () => server.forceShutdown());
