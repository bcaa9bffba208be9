// postinstall and build: rebuild unix-dgram (hot-shots' optional native module for DogStatsD over a Unix
// socket) for the Node.js 24 that dts-util runs on. npm builds native modules with the Node that
// runs npm itself, often an older system Node whose ABI Node 24 refuses; the node-<platform>
// package behind the `node` dependency ships Node 24's headers, so no download is needed.
// npm may run unix-dgram's own install script after this postinstall (seen with npm 11), so
// `npm run build` runs this again; it only compiles when Node 24 cannot load the module.
// Never fails the install: without the module, metrics over unix:// fall back to a logged no-op.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const modules = path.join(root, 'node_modules');
const node = path.join(modules, 'node', 'bin', 'node');
const addon = path.join(modules, 'unix-dgram');

function warn(message) {
  console.warn(`dts-util: unix-dgram not rebuilt for Node 24 (${message}); DogStatsD over a Unix socket stays off, UDP works`);
}

function headersDir() {
  const nested = path.join(modules, 'node', 'node_modules');
  const candidates = fs.existsSync(nested) ? fs.readdirSync(nested).filter((name) => name.startsWith('node-')).map((name) => path.join(nested, name)) : [];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'include', 'node', 'node_version.h')));
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  try {
    return createRequire(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

/** Whether Node 24 loads the module as it is (then there is nothing to do: this runs on every build). */
function loads() {
  return spawnSync(node, ['-e', `require(${JSON.stringify(addon)})`], { stdio: 'ignore' }).status === 0;
}

if (fs.existsSync(addon) && fs.existsSync(node) && !loads()) {
  const nodedir = headersDir();
  const gyp = nodeGyp();
  if (!nodedir) warn('no Node 24 headers under node_modules/node');
  else if (!gyp) warn('node-gyp not found beside npm');
  else {
    // Without npm's own settings: Debian's npm passes npm_config_nodedir=/usr (Node 20's
    // headers), which node-gyp prefers to --nodedir.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_config_')));
    const result = spawnSync(node, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: addon, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (result.status !== 0) warn(`node-gyp failed: ${(result.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  }
}
