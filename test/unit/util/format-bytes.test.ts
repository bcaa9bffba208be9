import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatBytes } from '../../../src/util/format-bytes.js';

describe('formatBytes', () => {
  it('reads in MiB below 1 GiB and in GiB from it, one decimal', () => {
    assert.equal(formatBytes(0), '0.0 MiB');
    assert.equal(formatBytes(1.5 * 2 ** 20), '1.5 MiB');
    assert.equal(formatBytes(2 ** 30 - 2 ** 20), '1023.0 MiB');
    assert.equal(formatBytes(2 ** 30), '1.0 GiB');
    assert.equal(formatBytes(3.2 * 2 ** 30), '3.2 GiB');
  });

  it('moves the switch to GiB where asked (progress lines keep MiB longer)', () => {
    assert.equal(formatBytes(3 * 2 ** 30, 10 * 2 ** 30), '3072.0 MiB');
    assert.equal(formatBytes(10 * 2 ** 30, 10 * 2 ** 30), '10.0 GiB');
  });
});
