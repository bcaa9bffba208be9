import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { describe, it } from 'node:test';

import { mapLimited } from '../../../src/util/map-limited.js';

describe('mapLimited', () => {
  it('answers in item order with never more than the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const items = Array.from({ length: 100 }, (_, i) => i);
    const results = await mapLimited(items, 7, async (i) => {
      most = Math.max(most, ++inFlight);
      // Later items finish sooner, so order comes from the index, not from completion.
      for (let k = 0; k < 100 - i; k++) await setImmediate();
      inFlight--;
      return i * 2;
    });
    assert.deepEqual(results, items.map((i) => i * 2));
    assert.equal(most, 7);
  });

  it('throws the first failure and starts nothing after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimited([0, 1, 2, 3, 4, 5], 2, async (i) => {
        started.push(i);
        await setImmediate();
        if (i === 1) throw new Error('item 1 failed');
      }),
      /item 1 failed/,
    );
    assert.ok(!started.includes(5), `started ${started.join(', ')}`);
  });

  it('answers an empty list with an empty list', async () => {
    assert.deepEqual(await mapLimited([], 4, async () => 1), []);
  });
});
