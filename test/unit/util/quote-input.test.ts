import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { QUOTED_INPUT_CHARS, quoteInput } from '../../../src/util/quote-input.js';

describe('quoteInput', () => {
  it('quotes a short string whole', () => {
    assert.equal(quoteInput('sd15/unet'), '"sd15/unet"');
    assert.equal(quoteInput('a"b\nc'), '"a\\"b\\nc"');
  });

  it('cuts a long string to a prefix and says how long it was', () => {
    const quoted = quoteInput('x'.repeat(20_000_000));
    assert.equal(quoted, `"${'x'.repeat(QUOTED_INPUT_CHARS)}"… (20000000 characters)`);
  });

  it('never splits a surrogate pair', () => {
    const quoted = quoteInput('😀'.repeat(100), 5);
    assert.match(quoted, /^"(😀){2}"… \(200 characters\)$/u);
  });
});
