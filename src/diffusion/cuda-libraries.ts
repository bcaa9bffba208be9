import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { libraryInListing } from './ldconfig.js';

/**
 * The libraries ONNX Runtime's CUDA provider (a CUDA 13 build, see scripts/cuda-provider.json)
 * needs beyond the driver's libcuda: it links the first four, and opens cuDNN when a
 * convolution runs. Each names the pip wheel of NVIDIA's that ships it.
 */
export const CUDA_LIBRARIES = [
  { file: 'libcudart.so.13', what: 'the CUDA 13 runtime', wheel: 'nvidia-cuda-runtime' },
  { file: 'libcublas.so.13', what: 'cuBLAS 13', wheel: 'nvidia-cublas' },
  { file: 'libcublasLt.so.13', what: 'cuBLASLt 13', wheel: 'nvidia-cublas' },
  { file: 'libcurand.so.10', what: 'cuRAND (CUDA 13)', wheel: 'nvidia-curand' },
  { file: 'libcudnn.so.9', what: 'cuDNN 9', wheel: 'nvidia-cudnn-cu13' },
] as const;

export const CUDA_INSTALL_HINT =
  "install NVIDIA's CUDA 13 runtime and cuDNN 9 for CUDA 13 (packages cuda-runtime-13-x / the CUDA toolkit and libcudnn9-cuda-13), or `pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand nvidia-cudnn-cu13` into a Python environment dts-util looks in (README \"Devices\")";

/** Where to look, in order; tests give their own. */
export interface LibrarySearch {
  env: NodeJS.ProcessEnv;
  /** The loader's cache (`ldconfig -p`), as text. */
  ldconfig: () => string;
  /** Folders of CUDA installs and system libraries. */
  systemDirs: string[];
  /** Python environments (venv or conda roots) and site-packages folders to look into for NVIDIA's wheels. */
  pythonRoots: string[];
}

export interface CudaLibraries {
  /** Library file → where it was found. */
  found: Map<string, string>;
  missing: (typeof CUDA_LIBRARIES)[number][];
  /** Folders the loader must search (LD_LIBRARY_PATH) for what was found outside its own paths. */
  dirs: string[];
}

/** Common places of CUDA installs: /usr/local/cuda, cuda-13.x, and the toolkit's target folder. */
export function cudaInstallDirs(root = '/usr/local'): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(root).filter((name) => /^cuda(-\d+(\.\d+)?)?$/.test(name)).sort().reverse();
  } catch {
    // no /usr/local
  }
  return names.flatMap((name) => [path.join(root, name, 'lib64'), path.join(root, name, 'targets', 'x86_64-linux', 'lib')]);
}

/** site-packages folders under a venv or conda root (lib/python3.*), or the folder itself when it is one. */
function sitePackages(root: string): string[] {
  if (/(site|dist)-packages$/.test(root)) return [root];
  const lib = path.join(root, 'lib');
  let pythons: string[] = [];
  try {
    pythons = fs.readdirSync(lib).filter((name) => /^python3(\.\d+)?$/.test(name));
  } catch {
    return [];
  }
  return pythons.flatMap((python) => ['site-packages', 'dist-packages'].map((kind) => path.join(lib, python, kind)));
}

/** NVIDIA's wheels keep their libraries in site-packages/nvidia/<part>/lib (CUDA 13 wheels: nvidia/cu13/lib). */
function wheelLibDirs(site: string): string[] {
  const nvidia = path.join(site, 'nvidia');
  try {
    return fs
      .readdirSync(nvidia, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => path.join(nvidia, entry.name, 'lib'))
      .filter((dir) => fs.existsSync(dir));
  } catch {
    return [];
  }
}

/**
 * Python environments a GPU user is likely to have NVIDIA's wheels in: the active venv or conda
 * environment, the venv whose python3 is first on PATH (no need to activate it), the user's and
 * the system's site-packages, and DTS_UTIL_CUDA_PATH for anything else.
 */
export function pythonRoots(env: NodeJS.ProcessEnv = process.env, home = env.HOME || os.homedir()): string[] {
  const roots = [env.VIRTUAL_ENV, env.CONDA_PREFIX].filter((r): r is string => Boolean(r));
  for (const dir of (env.PATH ?? '').split(':').filter(Boolean)) {
    if (fs.existsSync(path.join(dir, 'python3')) && fs.existsSync(path.join(dir, '..', 'pyvenv.cfg'))) roots.push(path.resolve(dir, '..'));
  }
  roots.push(path.join(home, '.local'), '/usr/local', '/usr');
  return [...new Set(roots)];
}

export const systemLibrarySearch = (ldconfig: () => string, env: NodeJS.ProcessEnv = process.env): LibrarySearch => ({
  env,
  ldconfig,
  systemDirs: [...cudaInstallDirs(), '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'],
  pythonRoots: pythonRoots(env),
});

/**
 * Finds the CUDA provider's libraries: on the loader's own path first (LD_LIBRARY_PATH, its
 * cache), then DTS_UTIL_CUDA_PATH, CUDA installs and NVIDIA's pip wheels, whose folders are
 * returned in `dirs` for the processes that open CUDA to get on their LD_LIBRARY_PATH.
 */
export function findCudaLibraries(search: LibrarySearch): CudaLibraries {
  const loaderDirs = (search.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const cache = search.ldconfig();
  const extraDirs = [
    ...(search.env.DTS_UTIL_CUDA_PATH ?? '').split(':').filter(Boolean),
    ...search.systemDirs,
    ...search.pythonRoots.flatMap(sitePackages).flatMap(wheelLibDirs),
  ];
  const found = new Map<string, string>();
  const dirs: string[] = [];
  for (const library of CUDA_LIBRARIES) {
    const inLoaderPath = loaderDirs.map((dir) => path.join(dir, library.file)).find((file) => fs.existsSync(file));
    const cached = libraryInListing(cache, library.file);
    if (inLoaderPath ?? cached) {
      found.set(library.file, (inLoaderPath ?? cached)!);
      continue;
    }
    const dir = extraDirs.find((candidate) => fs.existsSync(path.join(candidate, library.file)));
    if (dir === undefined) continue;
    found.set(library.file, path.join(dir, library.file));
    if (!dirs.includes(dir)) dirs.push(dir);
  }
  return { found, missing: CUDA_LIBRARIES.filter((library) => !found.has(library.file)), dirs };
}

/** The environment for a process that opens CUDA: the found folders ahead of LD_LIBRARY_PATH (the loader reads it at start). */
export function withCudaLibraryPath(env: NodeJS.ProcessEnv, libraries: Pick<CudaLibraries, 'dirs'>): NodeJS.ProcessEnv {
  if (libraries.dirs.length === 0) return env;
  const current = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return { ...env, LD_LIBRARY_PATH: [...libraries.dirs.filter((dir) => !current.includes(dir)), ...current].join(':') };
}
