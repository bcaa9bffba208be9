/**
 * A call's garbage must die young. With V8's allocation-site pretenuring on, some of grpc-js's
 * per-call objects are allocated straight into the old generation; dead, they still hold the call's
 * young objects through every scavenge until a full collection, so `dts-util serve` kept
 * 3–20 MB alive per scavenge (pauses of 10–30 ms, seen as Echo latency) where a server that lets
 * them die young keeps tens of KB (src/runtime/gc-tuning.ts, bench/README.md). This runs the real
 * `dts-util serve` under `--trace-gc-nvp` (V8's per-collection figures on stdout) and drives Echo
 * over TLS until the young generation has been collected several times.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { unaryCall } from '../../src/client/client.js';
import { serveWithClient, type ServeWithClient } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

/** Runs the command after it (node, bin/run.js, serve …) with V8's GC tracing flag added. */
const TRACE_GC = ['sh', '-c', 'node="$0"; exec "$node" --trace-gc-nvp "$@"'];

/** Echo calls: about 7 KB of garbage each on the server, so ~150 MB, a dozen scavenges or more. */
const CALLS = 20_000;

/** Bytes that survived each scavenge (new_space_survived in V8's name=value trace lines). */
function survivedPerScavenge(lines: Record<string, unknown>[]): number[] {
  return lines
    .map((line) => String(line.text ?? ''))
    .filter((text) => / gc=s /.test(text))
    .map((text) => Number(/\bnew_space_survived=(\d+)/.exec(text)?.[1]));
}

describe('young-generation garbage collection in dts-util serve', () => {
  const home = tempHome('dts-young-gen-');
  let server: ServeWithClient;
  before(async () => {
    server = await serveWithClient([], home.home, home.env, TRACE_GC);
  });
  after(async () => {
    await server.stop();
    home.cleanup();
  });

  it("lets Echo calls' objects die young: a scavenge keeps well under a megabyte", async () => {
    const { service } = server.connection;
    const startedAt = survivedPerScavenge(server.serve.lines).length;
    for (let i = 0; i < CALLS; i++) await unaryCall(service, service.echo, {}, 10_000);
    const survived = survivedPerScavenge(server.serve.lines).slice(startedAt);
    assert.ok(survived.length >= 6, `V8 traced ${survived.length} scavenges during ${CALLS} calls; expected several`);
    assert.ok(survived.every(Number.isFinite), 'every scavenge line names new_space_survived');
    // Start-up objects (modules, JIT feedback, TLS session) still die during the first
    // scavenges; from then on only the call in flight is alive. Without the tuning none of them
    // gets below ~3.5 MB.
    const settled = Math.min(...survived.slice(survived.length / 2));
    assert.ok(settled < 512 * 1024, `the least any later scavenge kept alive: ${(settled / 1024).toFixed(0)} KB (all: ${survived.map((b) => (b / 1024).toFixed(0)).join(', ')} KB)`);
  });
});
