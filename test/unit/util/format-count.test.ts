import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatCount } from '../../../src/util/format-count.js';

describe('formatCount', () => {
  it('puts the noun in the number the count asks for', () => {
    assert.equal(formatCount(1, 'file'), '1 file');
    assert.equal(formatCount(0, 'file'), '0 files');
    assert.equal(formatCount(14, 'file'), '14 files');
    assert.equal(formatCount(2, 'index', 'indices'), '2 indices');
  });
});
