import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { CUDA_LIBRARIES, cudaInstallDirs, findCudaLibraries, pythonRoots, withCudaLibraryPath } from '../../src/diffusion/cuda-libraries.js';
import { runProbeChild } from '../../src/diffusion/device-probe.js';

const touch = (file: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
};

/** A venv as `python3 -m venv` makes it, with NVIDIA's CUDA 13 wheels installed (nvidia/cu13/lib, nvidia/cudnn/lib). */
function venvWithWheels(root: string): { bin: string; cu13: string; cudnn: string } {
  const site = path.join(root, 'lib', 'python3.12', 'site-packages');
  touch(path.join(root, 'pyvenv.cfg'));
  touch(path.join(root, 'bin', 'python3'));
  const cu13 = path.join(site, 'nvidia', 'cu13', 'lib');
  const cudnn = path.join(site, 'nvidia', 'cudnn', 'lib');
  for (const file of ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10']) touch(path.join(cu13, file));
  touch(path.join(cudnn, 'libcudnn.so.9'));
  return { bin: path.join(root, 'bin'), cu13, cudnn };
}

describe('finding CUDA 13 and cuDNN 9 (real folders)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-cuda-libs-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const none = { ldconfig: () => '', systemDirs: [], pythonRoots: [] };

  it("finds NVIDIA's pip wheels in the venv whose python3 is on PATH, and names their folders for LD_LIBRARY_PATH", () => {
    const venv = venvWithWheels(path.join(root, 'venv'));
    const env = { PATH: `${venv.bin}:/usr/bin`, HOME: path.join(root, 'home') };
    const found = findCudaLibraries({ ...none, env, pythonRoots: pythonRoots(env) });
    assert.deepEqual(found.missing, []);
    assert.deepEqual(found.dirs, [venv.cu13, venv.cudnn]);
    assert.equal(found.found.get('libcudnn.so.9'), path.join(venv.cudnn, 'libcudnn.so.9'));
  });

  it('finds them in an active conda environment or VIRTUAL_ENV too, and in DTS_UTIL_CUDA_PATH', () => {
    const conda = venvWithWheels(path.join(root, 'conda'));
    assert.deepEqual(findCudaLibraries({ ...none, env: {}, pythonRoots: pythonRoots({ CONDA_PREFIX: path.join(root, 'conda'), HOME: root }) }).dirs, [conda.cu13, conda.cudnn]);
    const own = path.join(root, 'own');
    for (const library of CUDA_LIBRARIES) touch(path.join(own, library.file));
    assert.deepEqual(findCudaLibraries({ ...none, env: { DTS_UTIL_CUDA_PATH: own } }).dirs, [own]);
  });

  it('finds a CUDA install under /usr/local (cuda-13.0, cuda), newest first', () => {
    const local = path.join(root, 'usr-local');
    touch(path.join(local, 'cuda-13.0', 'targets', 'x86_64-linux', 'lib', 'libcudart.so.13'));
    fs.mkdirSync(path.join(local, 'cuda', 'lib64'), { recursive: true });
    fs.mkdirSync(path.join(local, 'lib'), { recursive: true });
    const dirs = cudaInstallDirs(local);
    assert.deepEqual(dirs, [
      path.join(local, 'cuda-13.0', 'lib64'),
      path.join(local, 'cuda-13.0', 'targets', 'x86_64-linux', 'lib'),
      path.join(local, 'cuda', 'lib64'),
      path.join(local, 'cuda', 'targets', 'x86_64-linux', 'lib'),
    ]);
    const found = findCudaLibraries({ ...none, env: {}, systemDirs: dirs });
    assert.deepEqual([...found.found.keys()], ['libcudart.so.13']);
    assert.deepEqual(found.missing.map((l) => l.file), ['libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libcudnn.so.9']);
  });

  it("adds nothing for what the loader finds itself (LD_LIBRARY_PATH, ldconfig's cache)", () => {
    const venv = venvWithWheels(path.join(root, 'loader'));
    const cache = CUDA_LIBRARIES.filter((l) => l.file !== 'libcudnn.so.9').map((l) => `\t${l.file} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/${l.file}`).join('\n');
    const found = findCudaLibraries({ ...none, ldconfig: () => `5 libs found in cache\n${cache}\n`, env: { LD_LIBRARY_PATH: venv.cudnn } });
    assert.deepEqual(found.missing, []);
    assert.deepEqual(found.dirs, []);
    assert.equal(found.found.get('libcublasLt.so.13'), '/usr/lib/x86_64-linux-gnu/libcublasLt.so.13');
  });

  it('gives the process that opens CUDA the folders ahead of its LD_LIBRARY_PATH, once', async () => {
    assert.deepEqual(withCudaLibraryPath({ LD_LIBRARY_PATH: '/b:/a' }, { dirs: ['/a', '/c'] }).LD_LIBRARY_PATH, '/c:/b:/a');
    assert.equal(withCudaLibraryPath({ A: '1' }, { dirs: [] }).LD_LIBRARY_PATH, undefined);
    // A real child process sees it: the probe child is how CUDA is first opened.
    const script = path.join(root, 'print-path.mjs');
    fs.writeFileSync(script, "process.stdout.write(JSON.stringify({ ok: process.env.LD_LIBRARY_PATH === '/wheels/cu13/lib:/usr/lib', error: process.env.LD_LIBRARY_PATH }) + '\\n');");
    assert.equal(await runProbeChild(script, [], 10_000, withCudaLibraryPath({ ...process.env, LD_LIBRARY_PATH: '/usr/lib' }, { dirs: ['/wheels/cu13/lib'] })), undefined);
  });
});
