import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { runCli, spawnServe } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

// The built binary on a machine with no GPU (CI and these machines, shared/FACTS.md).
describe('serve: devices at start-up (built binary)', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('logs one line per device found, then the one chosen and why, after the listening line', async () => {
    const serve = await spawnServe([], home.env);
    try {
      // The device lines follow the listening line, which is all spawnServe waits for.
      await serve.waitForLine((l) => l.msg === 'device chosen');
      const found = serve.lines.filter((l) => l.msg === 'device found');
      assert.deepEqual(found.map((l) => [l.device, l.usable]), [['cuda', false], ['webgpu', false], ['cpu', true]]);
      // This machine has no NVIDIA GPU: the cuda line says that and nothing else.
      assert.equal(found[0]!.detail, 'no NVIDIA GPU visible (no /proc/driver/nvidia/gpus, no /dev/nvidia0)');
      const chosen = serve.lines.find((l) => l.msg === 'device chosen')!;
      assert.deepEqual([chosen.level, chosen.device, chosen.requested, chosen.fallbackOrder], ['warn', 'cpu', 'auto', ['cpu']]);
      assert.match(String(chosen.reason), /^auto: no GPU is usable \(cuda: .*; webgpu: .*\)$/);
      const listening = serve.lines.findIndex((l) => l.msg === 'dts-util server listening');
      assert.ok(listening < serve.lines.indexOf(found[0]!) && serve.lines.indexOf(found[2]!) < serve.lines.indexOf(chosen));
      assert.equal(serve.lines[listening]!.device, 'cpu');
    } finally {
      serve.child.kill('SIGKILL');
    }
  });

  it('--device cuda --no-device-fallback exits with status 2 and says why and what to do', async () => {
    const { code, stderr, stdout } = await runCli(['serve', '--port', '0', '--device', 'cuda', '--no-device-fallback', '--json'], home.env);
    assert.equal(code, 2, stderr);
    const { error } = JSON.parse(stdout) as { error: { message: string; exitCode: number; suggestion?: string } };
    assert.equal(error.message, 'device cuda was asked for with device fallback off (--no-device-fallback), but it is not usable here: no NVIDIA GPU visible (no /proc/driver/nvidia/gpus, no /dev/nvidia0)');
    assert.match(error.suggestion ?? '', /README "Devices"/);
  });

  it('DTS_UTIL_DEVICE_FALLBACK=false does the same, and an invalid value is a usage error', async () => {
    const off = await runCli(['serve', '--port', '0', '--device', 'webgpu'], { ...home.env, DTS_UTIL_DEVICE_FALLBACK: 'false' });
    assert.equal(off.code, 2, off.stderr);
    assert.match(off.stderr, /device webgpu was asked for with device fallback off/);
    const bad = await runCli(['serve', '--port', '0'], { ...home.env, DTS_UTIL_DEVICE_FALLBACK: 'maybe' });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /invalid boolean "maybe" from DTS_UTIL_DEVICE_FALLBACK/);
  });
});
