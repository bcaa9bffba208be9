import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';

const read = (name: string) => fs.readFileSync(path.join(PACKAGE_ROOT, name), 'utf8');

/**
 * Licences a GPL-3.0-or-later program may combine with (permissive ones, and Apache-2.0, which
 * GPLv3 accepts). A dependency under anything else must be looked at before it lands.
 */
const COMPATIBLE = new Set(['MIT', 'ISC', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', '0BSD', 'CC0-1.0', 'BlueOak-1.0.0', 'Unlicense', 'Python-2.0', 'GPL-3.0-or-later', 'LGPL-3.0-or-later']);

/** Whether an SPDX expression of the forms npm packages use (A, (A OR B), (A AND B)) allows use under GPL-3.0-or-later. */
function compatible(expression: string): boolean {
  const inner = expression.replace(/^\((.*)\)$/, '$1');
  if (inner.includes(' OR ')) return inner.split(' OR ').some((part) => compatible(part.trim()));
  if (inner.includes(' AND ')) return inner.split(' AND ').every((part) => compatible(part.trim()));
  return COMPATIBLE.has(inner.trim());
}

describe('licence: GPL-3.0-or-later, as Draw Things asks of servers of its protocol', () => {
  it('says so in package.json and the lock, ships the licence text, and the README says why', () => {
    const pkg = JSON.parse(read('package.json')) as { license: string; files: string[] };
    assert.equal(pkg.license, 'GPL-3.0-or-later');
    assert.ok(pkg.files.includes('LICENSE'));
    assert.equal((JSON.parse(read('package-lock.json')) as { packages: Record<string, { license?: string }> }).packages['']!.license, 'GPL-3.0-or-later');
    const text = read('LICENSE');
    assert.match(text, /^\s*GNU GENERAL PUBLIC LICENSE\s+Version 3, 29 June 2007/);
    assert.match(text, /END OF TERMS AND CONDITIONS/);
    assert.match(read('README.md'), /^## Licence\n\n[^#]*GPL-3\.0-or-later[^#]*Draw Things/m);
  });

  it('depends at run time only on packages whose licences allow that', () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { license?: string; dev?: boolean }> };
    const offending = Object.entries(lock.packages)
      .filter(([location, entry]) => location !== '' && !entry.dev && !compatible(entry.license ?? '(none)'))
      .map(([location, entry]) => `${location.slice(location.lastIndexOf('node_modules/') + 13)}: ${entry.license ?? 'no licence field'}`);
    assert.deepEqual(offending, []);
  });

  it('reads licence expressions the way SPDX means them', () => {
    assert.ok(compatible('(BSD-3-Clause OR GPL-2.0)'));
    assert.ok(compatible('(Apache-2.0 AND BSD-3-Clause)'));
    assert.ok(!compatible('(MIT AND SSPL-1.0)'));
    assert.ok(!compatible('GPL-2.0-only'));
  });
});
