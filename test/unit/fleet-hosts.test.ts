import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { describeFailures, fleetTargets, parseHostList } from '../../src/client/fleet.js';
import { UsageError } from '../../src/config/errors.js';
import { tempHome } from '../helpers/temp-home.js';

describe('--host lists of the fleet commands', () => {
  it('takes repeated flags and comma lists alike, with HOST:PORT, [v6]:port and bare IPv6, dropping blanks and repeats', () => {
    assert.deepEqual(parseHostList(['gpu-a', 'gpu-b:7860, gpu-c ,', '[fd00::1]:7861', '::1', 'gpu-a', '[fd00::2]']), [
      { host: 'gpu-a' },
      { host: 'gpu-b', port: 7860 },
      { host: 'gpu-c' },
      { host: 'fd00::1', port: 7861 },
      { host: '::1' },
      { host: 'fd00::2' },
    ]);
    assert.deepEqual(parseHostList([]), []);
  });

  it('refuses a port that is no port, and a port without a host, as usage errors saying the form', () => {
    for (const bad of ['gpu-a:', 'gpu-a:http', 'gpu-a:0', 'gpu-a:70000', ':7859', '[fd00::1]:x']) {
      assert.throws(() => parseHostList([bad]), (e: Error) => e instanceof UsageError && e.message.startsWith(`--host ${bad}`) && /HOST:PORT/.test(e.suggestion ?? ''), bad);
    }
  });

  it('gives every host the shared port, TLS and secret unless it names its own port; no --host is the configured server', () => {
    const home = tempHome();
    try {
      const env = { ...home.env, DTS_UTIL_SHARED_SECRET: 'fleet-secret', DTS_UTIL_HOST: 'configured' };
      const targets = fleetTargets({ port: 7000, tls: false }, ['gpu-a,gpu-b:7001', '[fd00::1]:7002'], env);
      assert.deepEqual(targets.map((t) => [t.host, t.address, t.settings.port, t.settings.tls, t.settings.sharedSecret]), [
        ['gpu-a', 'gpu-a:7000', 7000, false, 'fleet-secret'],
        ['gpu-b:7001', 'gpu-b:7001', 7001, false, 'fleet-secret'],
        ['[fd00::1]:7002', '[fd00::1]:7002', 7002, false, 'fleet-secret'],
      ]);
      assert.deepEqual(fleetTargets({ port: 7000 }, undefined, env).map((t) => [t.host, t.address]), [['configured', 'configured:7000']]);
    } finally {
      home.cleanup();
    }
  });

  it('names each failed host with its reason', () => {
    assert.equal(
      describeFailures([
        { host: 'a', address: 'a:1', ok: true, result: 1 },
        { host: 'b', address: 'b:1', ok: false, error: 'refused' },
        { host: 'c', address: 'c:1', ok: false, error: 'timed out' },
      ]),
      'b (refused); c (timed out)',
    );
  });
});
