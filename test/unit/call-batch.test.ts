import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CallBatch, packValues } from '../../src/metrics/call-batch.js';

describe('CallBatch (per-call metrics between flushes)', () => {
  it('tallies calls per method and code, keeps finite durations in order, and starts over on drain', () => {
    const batch = new CallBatch();
    batch.record('/a', 'OK', 2);
    batch.record('/a', 'OK', 1);
    batch.record('/a', 'NOT_FOUND', 3);
    batch.record('/b', 'OK', Number.NaN);
    assert.deepEqual(batch.drain(), [
      { method: '/a', code: 'OK', count: 2, durationsMs: [2, 1] },
      { method: '/a', code: 'NOT_FOUND', count: 1, durationsMs: [3] },
      { method: '/b', code: 'OK', count: 1, durationsMs: [] },
    ]);
    assert.deepEqual(batch.drain(), []);
  });
});

describe('packValues (DogStatsD 1.1 multi-value lines)', () => {
  it('joins values with ":" at microsecond precision, splitting groups before they pass the limit', () => {
    assert.deepEqual(packValues([1.23456, 0.0004, 10], 100), ['1.235:0:10']);
    assert.deepEqual(packValues([111, 222, 333, 444], 7), ['111:222', '333:444']);
    assert.deepEqual(packValues([], 100), []);
  });

  it('keeps every value once, and no group over the limit', () => {
    const values = Array.from({ length: 5000 }, (_, i) => (i * 7.31) % 997);
    const groups = packValues(values, 1000);
    assert.ok(groups.every((group) => group.length <= 1000));
    assert.deepEqual(groups.flatMap((group) => group.split(':').map(Number)), values.map((v) => Math.round(v * 1000) / 1000));
  });
});
