// Writes oclif.manifest.json (what `oclif manifest` does) so `dts-util --help` and command
// lookup do not import every command module at start-up. Runs after the TypeScript build.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Config } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'oclif.manifest.json');
fs.rmSync(file, { force: true }); // otherwise oclif would read the stale one back
const config = await Config.load(root);
const plugin = config.getPluginsList().find((p) => p.root === root);
if (!plugin || Object.keys(plugin.manifest.commands).length === 0) throw new Error('no commands found: build first');
fs.writeFileSync(file, `${JSON.stringify(plugin.manifest, null, 2)}\n`);
