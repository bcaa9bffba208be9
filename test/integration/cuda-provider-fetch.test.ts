import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { PACKAGE_ROOT } from '../../src/util/package-root.js';

const SCRIPT = path.join(PACKAGE_ROOT, 'scripts', 'fetch-cuda-provider.mjs');
const ORT = path.join(PACKAGE_ROOT, 'node_modules', 'onnxruntime-node');

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 300_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * onnxruntime-node as installed (its JS, its binding, its core library), copied to a folder of
 * its own so the provider can be put beside the core there without touching the tree the other
 * tests load.
 */
function copyOnnxRuntime(root: string): string {
  const target = path.join(root, 'node_modules', 'onnxruntime-node');
  for (const part of ['package.json', 'dist']) fs.cpSync(path.join(ORT, part), path.join(target, part), { recursive: true });
  const libDir = path.join('bin', 'napi-v6', 'linux', 'x64');
  fs.mkdirSync(path.join(target, libDir), { recursive: true });
  for (const file of ['onnxruntime_binding.node', 'libonnxruntime.so.1']) fs.copyFileSync(path.join(ORT, libDir, file), path.join(target, libDir, file));
  fs.symlinkSync(path.join(PACKAGE_ROOT, 'node_modules', 'onnxruntime-common'), path.join(root, 'node_modules', 'onnxruntime-common'));
  return path.join(target, libDir);
}

/** Opens a one-node model on CUDA with the onnxruntime-node under `root`; prints the error ONNX Runtime gives. */
const OPEN_ON_CUDA = `
import ort from 'onnxruntime-node';
import onnxProto from ${JSON.stringify(pathToFileURL(path.join(PACKAGE_ROOT, 'node_modules', 'onnx-proto', 'dist', 'onnx.js')).href)};
const { onnx } = onnxProto;
const t = (name) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }] } } } });
const model = onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g', node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'] }], input: [t('x')], output: [t('y')] } }).finish();
try { await ort.InferenceSession.create(model, { executionProviders: ['cuda'] }); console.log('opened'); } catch (error) { console.log(String(error.message).split('\\n')[0]); }
`;

describe('the CUDA provider from the npm registry (scripts/fetch-cuda-provider.mjs)', async () => {
  const script = (await import(pathToFileURL(SCRIPT).href)) as {
    decide: (o: { platform: string; arch: string; mode?: string; driverPresent: boolean }) => { fetch: boolean; reason?: string };
    pinFor: (version: string) => { files: string[] } | undefined;
    MARKER: string;
  };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-cuda-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('fetches only on Linux x64, and by default only where an NVIDIA driver is', () => {
    assert.deepEqual(script.decide({ platform: 'linux', arch: 'x64', driverPresent: true }), { fetch: true });
    assert.match(script.decide({ platform: 'linux', arch: 'x64', driverPresent: false }).reason!, /no NVIDIA driver here.*npm run cuda-provider/);
    assert.deepEqual(script.decide({ platform: 'linux', arch: 'x64', mode: 'always', driverPresent: false }), { fetch: true });
    assert.equal(script.decide({ platform: 'linux', arch: 'x64', mode: 'never', driverPresent: true }).fetch, false);
    for (const [platform, arch] of [['darwin', 'arm64'], ['linux', 'arm64'], ['win32', 'x64']]) {
      assert.deepEqual(script.decide({ platform: platform!, arch: arch!, mode: 'always', driverPresent: true }), { fetch: false, reason: `no CUDA provider is published for ${platform}-${arch}` });
    }
    assert.match(script.decide({ platform: 'linux', arch: 'x64', mode: 'yes', driverPresent: true }).reason!, /not one of auto, always, never/);
  });

  it('pins a provider for the onnxruntime-node that is installed', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ORT, 'package.json'), 'utf8')) as { version: string };
    assert.ok(script.pinFor(version), `no pin for onnxruntime-node ${version} in scripts/cuda-provider.json`);
  });

  it('is a postinstall that does nothing on a machine without an NVIDIA driver', async () => {
    const into = fs.mkdtempSync(path.join(root, 'untouched-'));
    const { code, stderr } = await run(process.execPath, [SCRIPT, '--into', into], { env: { DTS_UTIL_CUDA_PROVIDER: 'auto' } });
    assert.equal(code, 0, stderr);
    assert.deepEqual(fs.readdirSync(into), []);
  });

  it('installs a provider that the installed core loads: it fails only at the CUDA libraries this machine lacks', async () => {
    const libDir = copyOnnxRuntime(root);
    // ONNX Runtime logs the loader's reason on stderr; the thrown message only says that it failed.
    const before = await run(process.execPath, ['--input-type=module', '-e', OPEN_ON_CUDA], { cwd: root });
    assert.match(before.stdout + before.stderr, /libonnxruntime_providers_shared\.so: cannot open shared object file/);

    const fetched = await run(process.execPath, [SCRIPT, '--always', '--into', libDir]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stderr, /CUDA provider for onnxruntime-node \d+\.\d+\.\d+ installed in/);
    assert.ok(fs.existsSync(path.join(libDir, script.MARKER)));
    assert.deepEqual(fs.readdirSync(libDir).filter((f) => f.startsWith('.')), [], 'a staging folder was left behind');

    // The provider itself loads into this core; what stops it is a CUDA 13 library (or the driver's libcuda).
    const after = await run(process.execPath, ['--input-type=module', '-e', OPEN_ON_CUDA], { cwd: root });
    const output = after.stdout + after.stderr;
    assert.match(output, /libonnxruntime_providers_cuda\.so with error: (libcublasLt\.so\.13|libcublas\.so\.13|libcurand\.so\.10|libcudart\.so\.13|libcuda\.so\.1): cannot open shared object file/, output);

    // Run again: the marker says it is there, nothing is fetched.
    const again = await run(process.execPath, [SCRIPT, '--always', '--into', libDir]);
    assert.equal(again.code, 0);
    assert.equal(again.stderr, '');
  });
});
