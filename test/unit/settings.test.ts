import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { UsageError } from '../../src/config/errors.js';
import { parseByteSize, parsePort } from '../../src/config/parse.js';
import { resolvePaths } from '../../src/config/paths.js';
import { DEFAULT_PORT, isLoopbackHost, resolveConnectionSettings, resolveServerSettings } from '../../src/config/settings.js';
import { tempHome } from '../helpers/temp-home.js';

describe('paths', () => {
  it('puts everything under DTS_UTIL_HOME when set', () => {
    assert.deepEqual(resolvePaths({ DTS_UTIL_HOME: '/data/dts' }, 'linux'), { configDir: '/data/dts', tlsDir: '/data/dts/tls', logDir: '/data/dts/logs', modelsDir: '/data/dts/models' });
  });

  it('follows XDG on Linux, with its defaults', () => {
    assert.deepEqual(resolvePaths({ HOME: '/home/u' }, 'linux'), {
      configDir: '/home/u/.config/dts-util',
      tlsDir: '/home/u/.config/dts-util/tls',
      logDir: '/home/u/.local/state/dts-util',
      modelsDir: '/home/u/.local/share/dts-util/models',
    });
    const xdg = resolvePaths({ HOME: '/home/u', XDG_CONFIG_HOME: '/c', XDG_DATA_HOME: '/d', XDG_STATE_HOME: '/s' }, 'linux');
    assert.equal(xdg.configDir, '/c/dts-util');
    assert.equal(xdg.modelsDir, '/d/dts-util/models');
    assert.equal(xdg.logDir, '/s/dts-util');
  });

  it('uses Application Support and Logs on macOS', () => {
    const mac = resolvePaths({ HOME: '/Users/u' }, 'darwin');
    assert.equal(mac.configDir, '/Users/u/Library/Application Support/dts-util');
    assert.equal(mac.logDir, '/Users/u/Library/Logs/dts-util');
  });
});

describe('settings precedence: flag > environment > config.json > default', () => {
  const home = tempHome();
  after(() => home.cleanup());

  it('defaults to port 7859, loopback, TLS on, no secret', () => {
    const s = resolveServerSettings({}, home.env);
    assert.equal(s.port, DEFAULT_PORT);
    assert.equal(s.port, 7859);
    assert.equal(s.host, undefined);
    assert.equal(s.tls, true);
    assert.equal(s.sharedSecret, undefined);
    assert.equal(s.modelsDir, path.join(home.home, 'models'));
  });

  it('layers config.json, environment and flags', () => {
    fs.writeFileSync(path.join(home.home, 'config.json'), JSON.stringify({ port: 9000, host: '10.0.0.5', tls: false, modelPath: '/m/config' }));
    const fromConfig = resolveServerSettings({}, home.env);
    assert.deepEqual([fromConfig.port, fromConfig.host, fromConfig.tls, fromConfig.modelsDir], [9000, '10.0.0.5', false, '/m/config']);
    const env = { ...home.env, DTS_UTIL_PORT: '9100', DTS_UTIL_TLS: 'true', DTS_UTIL_MODEL_PATH: '/m/env' };
    const fromEnv = resolveServerSettings({}, env);
    assert.deepEqual([fromEnv.port, fromEnv.tls, fromEnv.modelsDir], [9100, true, '/m/env']);
    const fromFlags = resolveServerSettings({ port: 9200, tls: false, modelPath: '/m/flag', host: '127.0.0.2' }, env);
    assert.deepEqual([fromFlags.port, fromFlags.tls, fromFlags.modelsDir, fromFlags.host], [9200, false, '/m/flag', '127.0.0.2']);
    fs.rmSync(path.join(home.home, 'config.json'));
  });

  it('chooses the device and GPU from flag, environment or config.json, refusing unknown devices', () => {
    assert.deepEqual([resolveServerSettings({}, home.env).device, resolveServerSettings({}, home.env).gpu], ['auto', 0]);
    const env = { ...home.env, DTS_UTIL_DEVICE: 'cuda', DTS_UTIL_GPU: '2' };
    assert.deepEqual([resolveServerSettings({}, env).device, resolveServerSettings({}, env).gpu], ['cuda', 2]);
    assert.equal(resolveServerSettings({ gpu: 1 }, env).gpu, 1);
    assert.throws(() => resolveServerSettings({ device: 'tpu' }, home.env), /unknown device "tpu"/);
    assert.throws(() => resolveServerSettings({}, { ...home.env, DTS_UTIL_GPU: 'first' }), /DTS_UTIL_GPU/);
  });

  for (const [setting, variable] of [
    ['deviceFallback', 'DTS_UTIL_DEVICE_FALLBACK'],
    ['directIo', 'DTS_UTIL_DIRECT_IO'],
    ['graphOptimize', 'DTS_UTIL_GRAPH_OPTIMIZE'],
  ] as const) {
    it(`takes ${setting} from flag, environment or config.json, on by default`, () => {
      assert.equal(resolveServerSettings({}, home.env)[setting], true);
      fs.writeFileSync(path.join(home.home, 'config.json'), JSON.stringify({ [setting]: false }));
      assert.equal(resolveServerSettings({}, home.env)[setting], false);
      assert.equal(resolveServerSettings({}, { ...home.env, [variable]: 'true' })[setting], true);
      assert.equal(resolveServerSettings({ [setting]: false }, { ...home.env, [variable]: 'true' })[setting], false);
      assert.throws(() => resolveServerSettings({}, { ...home.env, [variable]: 'maybe' }), new RegExp(variable));
      fs.rmSync(path.join(home.home, 'config.json'));
    });
  }

  for (const [setting, flag, variable, fallback] of [
    ['uploadIdleTimeout', '--upload-idle-timeout', 'DTS_UTIL_UPLOAD_IDLE_TIMEOUT', 60],
    ['maxConcurrentUploads', '--max-concurrent-uploads', 'DTS_UTIL_MAX_CONCURRENT_UPLOADS', 16],
  ] as const) {
    it(`takes ${setting} from flag, environment or config.json (default ${fallback})`, () => {
      assert.equal(resolveServerSettings({}, home.env)[setting], fallback);
      fs.writeFileSync(path.join(home.home, 'config.json'), JSON.stringify({ [setting]: 30 }));
      assert.equal(resolveServerSettings({}, home.env)[setting], 30);
      assert.equal(resolveServerSettings({}, { ...home.env, [variable]: '5' })[setting], 5);
      assert.equal(resolveServerSettings({ [setting]: 2 }, { ...home.env, [variable]: '5' })[setting], 2);
      fs.rmSync(path.join(home.home, 'config.json'));
    });

    it(`refuses a ${setting} that is not a whole number of 1 or more, naming where it came from`, () => {
      for (const bad of ['0', '-3', '1.5', 'soon', ' ']) {
        assert.throws(() => resolveServerSettings({}, { ...home.env, [variable]: bad }), (e: Error) => e instanceof UsageError && e.message.includes(variable), `${variable}=${bad}`);
      }
      for (const bad of [0, -1, 2.5]) assert.throws(() => resolveServerSettings({ [setting]: bad }, home.env), (e: Error) => e instanceof UsageError && e.message.includes(flag), String(bad));
      for (const bad of [0, 'ten', true, 1.5]) {
        fs.writeFileSync(path.join(home.home, 'config.json'), JSON.stringify({ [setting]: bad }));
        assert.throws(() => resolveServerSettings({}, home.env), (e: Error) => e instanceof UsageError && e.message.includes(`config.json (${setting})`), JSON.stringify(bad));
      }
      fs.rmSync(path.join(home.home, 'config.json'));
    });
  }

  it('takes the secret from the flag, the environment, a file, or secrets.env, and says which', () => {
    fs.writeFileSync(path.join(home.home, 'secrets.env'), 'DTS_UTIL_SHARED_SECRET=from-store\n', { mode: 0o600 });
    assert.deepEqual(pick(resolveConnectionSettings({}, home.env)), ['from-store', 'secrets file']);
    const file = path.join(home.home, 'secret.txt');
    fs.writeFileSync(file, 'from-file\n');
    assert.deepEqual(pick(resolveConnectionSettings({ sharedSecretFile: file }, home.env)), ['from-file', 'file']);
    assert.deepEqual(pick(resolveConnectionSettings({ sharedSecretFile: file }, { ...home.env, DTS_UTIL_SHARED_SECRET: 'from-env' })), ['from-env', 'environment']);
    assert.deepEqual(pick(resolveConnectionSettings({ sharedSecret: 'from-argv' }, { ...home.env, DTS_UTIL_SHARED_SECRET: 'from-env' })), ['from-argv', 'argv']);
    fs.rmSync(path.join(home.home, 'secrets.env'));
  });

  it('rejects a secret that cannot travel as a header value', () => {
    assert.throws(() => resolveConnectionSettings({ sharedSecret: 'has space' }, home.env), UsageError);
    assert.throws(() => resolveConnectionSettings({ sharedSecret: '' }, home.env), UsageError);
  });

  it('explains a broken config.json instead of crashing', () => {
    fs.writeFileSync(path.join(home.home, 'config.json'), '{ nope');
    assert.throws(() => resolveServerSettings({}, home.env), (e: Error) => e instanceof UsageError && /config\.json is not valid JSON/.test(e.message));
    fs.rmSync(path.join(home.home, 'config.json'));
  });

  it('rejects invalid values with the source named', () => {
    assert.throws(() => resolveServerSettings({}, { ...home.env, DTS_UTIL_TLS: 'maybe' }), /DTS_UTIL_TLS/);
    assert.throws(() => resolveServerSettings({ maxUploadSize: 'lots' }, home.env), /--max-upload-size/);
  });
});

const pick = (s: { sharedSecret: string | undefined; secretSource: string }) => [s.sharedSecret, s.secretSource];

describe('parsing', () => {
  it('parses ports', () => {
    assert.equal(parsePort('7859', 'x'), 7859);
    assert.equal(parsePort('0', 'x'), 0);
    for (const bad of ['', '-1', '65536', '1.5', 'abc']) assert.throws(() => parsePort(bad, 'x'), UsageError, bad);
  });

  it('parses sizes with decimal and binary units', () => {
    assert.equal(parseByteSize('1048576', 'x'), 1048576);
    assert.equal(parseByteSize('500MB', 'x'), 500e6);
    assert.equal(parseByteSize('16GiB', 'x'), 16 * 2 ** 30);
    assert.equal(parseByteSize('1.5kib', 'x'), 1536);
    for (const bad of ['0', '-5', '5 parsecs', '']) assert.throws(() => parseByteSize(bad, 'x'), UsageError, bad);
  });

  it('knows loopback addresses', () => {
    for (const h of [undefined, 'localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.ok(isLoopbackHost(h), String(h));
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'gpu-box.lan']) assert.ok(!isLoopbackHost(h), h);
  });
});
