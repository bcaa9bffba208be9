import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';

const SRC = path.join(PACKAGE_ROOT, 'src');

/** Every relative import of a source file, type-only ones too: a cycle of types still ties two files together. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const targets: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) targets.push(path.resolve(path.dirname(file), `${match[1]}.ts`));
  return targets.filter((target) => fs.existsSync(target));
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The first import cycle found by a depth-first walk, as the files along it, or undefined. */
function findCycle(files: string[]): string[] | undefined {
  const graph = new Map(files.map((file) => [file, importsOf(file)]));
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string): string[] | undefined => {
    const at = onPath.indexOf(file);
    if (at >= 0) return [...onPath.slice(at), file];
    if (done.has(file)) return undefined;
    onPath.push(file);
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    onPath.pop();
    done.add(file);
    return undefined;
  };
  for (const file of files) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('source layout', () => {
  it('has no import cycles in src/', () => {
    const cycle = findCycle(sourceFiles(SRC));
    assert.equal(cycle?.map((file) => path.relative(SRC, file)).join(' → '), undefined);
  });

  it('keeps one-function helpers in src/util, not loose at the top of src/', () => {
    const loose = fs.readdirSync(SRC).filter((name) => name.endsWith('.ts') && !/-command\.ts$/.test(name));
    assert.deepEqual(loose, []);
  });

  it('the server side does not reach into the client-side models/ folder', () => {
    const reaching = sourceFiles(path.join(SRC, 'server')).filter((file) => importsOf(file).some((target) => target.startsWith(path.join(SRC, 'models') + path.sep)));
    assert.deepEqual(reaching.map((file) => path.relative(SRC, file)), []);
  });
});
