import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { runProbeChild, systemProbeHost } from '../../src/diffusion/device-probe.js';

// The real probe: a child process opens a one-node model on an execution provider and runs it.
describe('device probe in a child process', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-probe-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return file;
  };

  it('runs the test model on the CPU and checks its answer', async () => {
    assert.equal(await systemProbeHost.trySession('cpu', 0), undefined);
  });

  it("reports ONNX Runtime's own error for a provider that cannot start", async () => {
    assert.equal(await systemProbeHost.trySession('no-such-provider', 0), 'a test model failed: no available backend found. ERR: [no-such-provider] backend not found.');
  });

  it('survives a probe that crashes or hangs, and says which', async () => {
    assert.equal(await runProbeChild(script('abort.mjs', "console.error('driver exploded'); process.abort();"), []), 'a test model crashed (SIGABRT): driver exploded');
    assert.equal(await runProbeChild(script('hang.mjs', 'setInterval(() => {}, 1000);'), [], 300), 'a test model did not finish within 0.3 s (a hung driver?)');
  });
});
