import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';

import { Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor, status, type Client, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';

import { createLogger } from '../../src/log/logger.js';
import { createMetrics, metricsInterceptor, type Metrics } from '../../src/metrics/index.js';
import { sharedSecretInterceptor } from '../../src/server/interceptors.js';

const SECRET = 'metrics-test-secret-5150';
const METHOD = '/dts.test.Echo/Echo';

/** A minimal unary service with raw bytes: echoes, or fails with INVALID_ARGUMENT on "fail". */
const identity = (b: Buffer) => b;
const EchoService: ServiceDefinition = {
  echo: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const echoImpl: UntypedServiceImplementation = {
  echo: (call: { request: Buffer }, callback: (error: Partial<ServiceError> | null, value?: Buffer) => void) => {
    if (call.request.toString() === 'fail') callback({ code: status.INVALID_ARGUMENT, details: 'asked to fail' });
    else callback(null, call.request);
  },
};
const EchoClient = makeGenericClientConstructor(EchoService, 'Echo');

function callEcho(client: Client, payload: string, secret?: string): Promise<{ code: number }> {
  const metadata = new Metadata();
  if (secret) metadata.set('authorization', `Bearer ${secret}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(METHOD, identity, identity, Buffer.from(payload), metadata, (error?: ServiceError | null) => resolve({ code: error ? error.code : status.OK }));
  });
}

async function startServer(metrics: Metrics): Promise<{ client: Client; stop(): Promise<void> }> {
  // metricsInterceptor first: it wraps the base call, so it also sees the status the auth interceptor sends.
  const server = new Server({ interceptors: [metricsInterceptor(metrics), sharedSecretInterceptor(SECRET)] });
  server.addService(EchoService, echoImpl);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))));
  const client = new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return {
    client,
    stop: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

async function udpAgent() {
  const socket = dgram.createSocket('udp4');
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (m) => {
    lines.push(...m.toString('utf8').split('\n').filter(Boolean));
    wake?.();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  const until = async (predicate: () => boolean) => {
    while (!predicate()) await new Promise<void>((resolve) => (wake = resolve));
  };
  return {
    port,
    /** dts.grpc.requests lines (count 1, type c) for this method and code. */
    requests: (code: string) => lines.filter((l) => l.startsWith('dts.grpc.requests:1|c|#') && l.includes(`method:${METHOD}`) && l.split('|#')[1]!.split(',').includes(`code:${code}`)),
    durations: (code: string) => lines.filter((l) => /^dts\.grpc\.request\.duration:[\d.]+\|d\|#/.test(l) && l.includes(`code:${code}`)),
    until,
    /** Sent after everything else from another socket: once it is here, what came before is too. */
    async sentinel() {
      const sender = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => sender.send('sentinel:1|c', port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      sender.close();
      await until(() => lines.includes('sentinel:1|c'));
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

const quietLogger = () => createLogger({ level: 'debug', write: () => undefined });

describe('metricsInterceptor on a real grpc-js server', () => {
  let agent: Awaited<ReturnType<typeof udpAgent>>;
  let metrics: Metrics;
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    agent = await udpAgent();
    metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${agent.port}` }, logger: quietLogger() });
    server = await startServer(metrics);
  });
  after(async () => {
    await server.stop();
    await metrics.close();
    await agent.close();
  });

  it('one call → exactly one dts.grpc.requests with method: and code:OK, and one duration', async () => {
    assert.equal((await callEcho(server.client, 'hi', SECRET)).code, status.OK);
    await agent.until(() => agent.requests('OK').length > 0);
    await agent.sentinel();
    assert.equal(agent.requests('OK').length, 1);
    assert.equal(agent.durations('OK').length, 1);
  });

  it('an unauthenticated call → code:UNAUTHENTICATED; a failing handler → its code', async () => {
    assert.equal((await callEcho(server.client, 'hi')).code, status.UNAUTHENTICATED);
    assert.equal((await callEcho(server.client, 'fail', SECRET)).code, status.INVALID_ARGUMENT);
    await agent.until(() => agent.requests('UNAUTHENTICATED').length > 0 && agent.requests('INVALID_ARGUMENT').length > 0);
    await agent.sentinel();
    assert.equal(agent.requests('UNAUTHENTICATED').length, 1);
    assert.equal(agent.requests('INVALID_ARGUMENT').length, 1);
    assert.equal(agent.requests('OK').length, 1, 'no extra OK');
  });
});

describe('metricsInterceptor with an agent that is not listening', () => {
  it('calls still succeed and nothing throws', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const metrics = createMetrics({ enabled: true, env: { DD_DOGSTATSD_URL: `udp://127.0.0.1:${port}` }, logger: quietLogger(), serviceCheckIntervalMs: 10 });
    const server = await startServer(metrics);
    try {
      for (let i = 0; i < 20; i++) assert.equal((await callEcho(server.client, `n${i}`, SECRET)).code, status.OK);
      assert.equal((await callEcho(server.client, 'x')).code, status.UNAUTHENTICATED);
      await new Promise((resolve) => setTimeout(resolve, 600)); // let a buffer flush hit the closed port
      assert.equal((await callEcho(server.client, 'again', SECRET)).code, status.OK);
    } finally {
      await server.stop();
      await metrics.close();
    }
  });
});
