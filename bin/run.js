#!/usr/bin/env node
// Entry point of the `dts-util` binary. Commands are compiled into dist/ (`npm run build`).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`dts-util needs Node.js 22 or newer; this is ${process.version}.`);
  console.error('Run it through npx (`npx dts-util …`), which uses the Node.js 24 that `npm ci` installs, or install a newer Node.js.');
  process.exit(2);
}
// V8 code cache for our modules and oclif's: start-up is most of a short command's time.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
// The check above is ours; oclif's own engine check loads semver for it (about a tenth of --help).
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
// V8 flags (src/runtime/gc-tuning.ts): fewer full collections while megabyte Buffers stream
// through (uploads, downloads), and a call's garbage dies young (no pretenuring feedback loop).
const { tuneGarbageCollection } = await import('../dist/src/runtime/gc-tuning.js');
tuneGarbageCollection();
const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
