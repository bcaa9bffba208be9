import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, it } from 'node:test';

import { readSecretsFile } from '../../src/config/config-file.js';
import { configChanged, generateSecret, writeConfig, writeSecrets } from '../../src/service/install-files.js';
import { tempHome } from '../helpers/temp-home.js';

const home = tempHome();
after(() => home.cleanup());

it('writes secrets.env 0600 in a 0700 folder, and keeps earlier values that are not given again', () => {
  const dir = path.join(home.home, 'cfg');
  const first = writeSecrets(dir, { sharedSecret: 's1', datadogApiKey: 'dd1' });
  assert.equal(fs.statSync(first.file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(readSecretsFile(dir), { DTS_UTIL_SHARED_SECRET: 's1', DD_API_KEY: 'dd1' });
  const second = writeSecrets(dir, { sharedSecret: 's2' });
  assert.equal(second.changed, true);
  assert.deepEqual(readSecretsFile(dir), { DTS_UTIL_SHARED_SECRET: 's2', DD_API_KEY: 'dd1' });
  assert.equal(writeSecrets(dir, {}).changed, false);
});

it('knows when config.json would change', () => {
  const dir = path.join(home.home, 'cfg2');
  writeConfig(dir, { port: 7859, tls: true });
  assert.equal(configChanged(dir, { port: 7859, tls: true }), false);
  assert.equal(configChanged(dir, { port: 7860, tls: true }), true);
});

it('generates 256-bit header-safe secrets, different each time', () => {
  const a = generateSecret();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, generateSecret());
});
