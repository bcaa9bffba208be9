/**
 * How `dts-util serve` stops (built binary, real TLS, tiny model): a call still running past
 * --grace-period is ended by the server with UNAVAILABLE and a reason; a second Ctrl-C stops at
 * once without leaving the worker computing; and a server started by npx stops with its parent.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { after, describe, it } from 'node:test';

import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';

import type { Connection } from '../../src/client/client.js';
import type { ImageGenerationProgress } from '../../src/generated/image_generation.js';
import { connectLoopback, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { childrenOf, exited } from '../helpers/processes.js';
import { request } from '../helpers/requests.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';
import { waitUntil } from '../helpers/wait.js';

/** Many steps of many images at 512×512: minutes on the tiny model, so it is still running whatever the test does. */
const LONG = request({ steps: 150, width: 512, height: 512, batchCount: 100 });

const home = tempHome('dts-serve-shutdown-');
const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
  home.cleanup();
});

async function serveAndConnect(args: string[], env: NodeJS.ProcessEnv = {}, launcher: string[] = []): Promise<{ serve: ServeProcess; connection: Connection; pid: number }> {
  await installTinyModels(path.join(home.home, 'models'), { sd15: 'tiny-sd15' });
  const serve = await spawnServe(args, { ...home.env, ...env }, launcher);
  const pid = Number(serve.lines.find((l) => l.msg === 'dts-util server listening')!.pid);
  const connection = connectLoopback(serve.port, path.join(home.home, 'tls'));
  cleanups.push(() => {
    connection.close();
    if (!exited(pid)) process.kill(pid, 'SIGKILL');
  });
  return { serve, connection, pid };
}

/** Starts the long generation and resolves once it is sampling; `step()` is the last step seen. */
async function startLongGeneration(connection: Connection) {
  const call: ClientReadableStream<ImageGenerationProgress> = connection.service.generateImageStream(LONG);
  let last = 0;
  const failed = new Promise<ServiceError>((resolve) => call.on('error', resolve));
  call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && (last = m.step));
  await new Promise<void>((resolve) => call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && resolve()));
  const nextStep = () =>
    new Promise<void>((resolve, reject) => {
      const seen = last;
      call.on('data', (m: ImageGenerationProgress) => m.stage === 'sampling' && m.step !== seen && resolve());
      void failed.then((error) => reject(new Error(`the generation failed instead of going on: ${error.code} ${error.details}`)));
    });
  return { call, failed, nextStep };
}

describe('dts-util serve shutdown (built binary)', () => {
  it('ends a call still running after --grace-period with UNAVAILABLE "the server is shutting down", logged as such', async () => {
    const { serve, connection } = await serveAndConnect(['--grace-period', '1']);
    const { failed } = await startLongGeneration(connection);
    serve.child.kill('SIGTERM');
    const error = await failed;
    assert.equal(error.code, status.UNAVAILABLE, `${status[error.code]}: ${error.details}`);
    assert.match(error.details, /the server is shutting down/);
    assert.equal(await serve.exited, 0);
    const call = serve.lines.find((l) => l.msg === 'call' && String(l.method).endsWith('/GenerateImageStream'));
    assert.equal(call?.code, 'UNAVAILABLE', JSON.stringify(call));
    assert.match(String(call.details), /the server is shutting down/);
    assert.ok(!serve.lines.some((l) => /client cancelled/.test(String(l.details))), 'the log blames the client for what the server did');
  });

  it('keeps generating after one Ctrl-C, and after the second leaves no worker behind and no EPIPE', async () => {
    const { serve, connection, pid } = await serveAndConnect([]);
    const { call, nextStep } = await startLongGeneration(connection);
    const [worker, ...others] = childrenOf(pid);
    assert.ok(worker !== undefined && others.length === 0, `serve has one child while it generates: its worker (${childrenOf(pid).join(', ')})`);
    // Ctrl-C signals the terminal's whole foreground process group: the server and its worker.
    const ctrlC = () => [pid, worker].forEach((p) => process.kill(p, 'SIGINT'));
    ctrlC();
    await serve.waitForLine((l) => l.msg === 'shutting down: health NOT_SERVING, draining running calls');
    await nextStep(); // the running call drains: the worker did not die of the first Ctrl-C
    call.on('error', () => undefined); // the server is about to go
    ctrlC();
    assert.equal(await serve.exited, 130);
    await waitUntil(() => exited(worker), 5_000);
    await finished(serve.child.stderr!); // the worker shares the pipe: all it wrote is in
    assert.doesNotMatch(serve.stderr(), /EPIPE|Error/);
  });

  it('stops gracefully when the npm (npx) process that started it goes away', async () => {
    // A stand-in for `npm exec`: a parent that starts serve and stays; npm's variables mark it.
    const parent = [process.execPath, '-e', "require('node:child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' })"];
    const npm = { npm_command: 'exec', npm_lifecycle_event: 'npx', npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js' };
    const { serve, pid } = await serveAndConnect([], npm, parent);
    assert.notEqual(pid, serve.child.pid);
    serve.child.kill('SIGKILL');
    const stopped = await serve.waitForLine((l) => l.msg === 'stopped', 20_000);
    assert.match(String(stopped.signal), /parent/);
    await waitUntil(() => exited(pid), 10_000);
  });
});
