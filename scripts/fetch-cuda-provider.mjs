// postinstall: puts ONNX Runtime's CUDA provider beside onnxruntime-node's own library, from the npm
// registry, so that `npm ci` alone makes CUDA work on a Linux x64 machine with an NVIDIA GPU.
// onnxruntime-node's own install script would fetch it from NuGet (a second source, unreachable for
// many installs) and knows only CUDA 12; .npmrc turns that off. The provider must be the build of
// the same ONNX Runtime version as the core (scripts/cuda-provider.json pins one per version).
//
// DTS_UTIL_CUDA_PROVIDER: auto (default: only where an NVIDIA driver is present, so CI and CPU-only
// machines do not download 171 MiB), always, never. `npm run cuda-provider` fetches it regardless.
// A postinstall never fails the install: without the provider, CUDA is reported unusable and the
// server runs on WebGPU or the CPU.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PINS = JSON.parse(fs.readFileSync(path.join(ROOT, 'scripts', 'cuda-provider.json'), 'utf8'))['onnxruntime-node'];
/** Written last: its presence says the files beside it are whole and which build they are. */
export const MARKER = 'dts-util-cuda-provider.json';

/** Whether to fetch, and why not when not. `driverPresent`: the NVIDIA kernel driver is loaded (or its device nodes are there). */
export function decide({ platform, arch, mode = 'auto', driverPresent }) {
  if (platform !== 'linux' || arch !== 'x64') return { fetch: false, reason: `no CUDA provider is published for ${platform}-${arch}` };
  if (mode === 'never') return { fetch: false, reason: 'DTS_UTIL_CUDA_PROVIDER=never' };
  if (mode === 'always') return { fetch: true };
  if (mode !== 'auto') return { fetch: false, reason: `DTS_UTIL_CUDA_PROVIDER=${mode} is not one of auto, always, never` };
  return driverPresent ? { fetch: true } : { fetch: false, reason: 'no NVIDIA driver here (no /proc/driver/nvidia, no /dev/nvidiactl); `npm run cuda-provider` fetches it anyway' };
}

/** The pinned provider for an onnxruntime-node version, or undefined. */
export function pinFor(ortVersion) {
  return PINS[ortVersion];
}

/** The folder onnxruntime-node loads its libraries from on Linux x64 (the provider must sit beside libonnxruntime.so.1). */
export function ortLibraryDir(from = ROOT) {
  const packageJson = createRequire(path.join(from, 'package.json')).resolve('onnxruntime-node/package.json');
  return { dir: path.join(path.dirname(packageJson), 'bin', 'napi-v6', 'linux', 'x64'), version: JSON.parse(fs.readFileSync(packageJson, 'utf8')).version };
}

/** Whether `dir` already holds this pin's files, complete. */
export function installed(dir, pin) {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8'));
    return marker.package === pin.package && marker.version === pin.version && pin.files.every((f) => fs.existsSync(path.join(dir, f)));
  } catch {
    return false;
  }
}

function sha512(file) {
  return `sha512-${crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/** npm pack through the npm that runs this script (its registry, proxy and cache settings), else the one on PATH. */
function npmPack(spec, destination) {
  const [command, prefix] = process.env.npm_execpath ? [process.env.npm_node_execpath || process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const result = spawnSync(command, [...prefix, 'pack', spec, '--pack-destination', destination, '--json', '--loglevel=error'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  if (result.status !== 0) throw new Error(`npm pack ${spec} failed: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-2).join(' | ')}`);
  return path.join(destination, JSON.parse(result.stdout)[0].filename);
}

/**
 * Fetches the pin's tarball, checks its integrity, and moves its provider files into `dir`, each
 * by a rename from a folder inside it: a download cut short leaves no half file under a real name.
 */
export function fetchProvider(dir, pin, log = () => {}) {
  const staging = fs.mkdtempSync(path.join(dir, '.dts-util-cuda-'));
  try {
    log(`fetching ${pin.package}@${pin.version} (ONNX Runtime's CUDA ${pin.cuda} provider) from the npm registry`);
    const tarball = npmPack(`${pin.package}@${pin.version}`, staging);
    const got = sha512(tarball);
    if (got !== pin.integrity) throw new Error(`${path.basename(tarball)} has integrity ${got}, not the pinned ${pin.integrity}`);
    const members = pin.files.map((f) => `${pin.folder}/${f}`);
    const untar = spawnSync('tar', ['-xzf', tarball, '--no-same-owner', '-C', staging, ...members], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (untar.status !== 0) throw new Error(`tar could not extract ${members.join(', ')}: ${(untar.stderr || untar.error?.message || '').trim()}`);
    fs.rmSync(path.join(dir, MARKER), { force: true });
    for (const file of pin.files) fs.renameSync(path.join(staging, pin.folder, file), path.join(dir, file));
    fs.writeFileSync(path.join(dir, MARKER), `${JSON.stringify({ package: pin.package, version: pin.version, integrity: pin.integrity, cuda: pin.cuda, cudnn: pin.cudnn }, null, 2)}\n`);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function driverPresent() {
  return fs.existsSync('/proc/driver/nvidia/version') || fs.existsSync('/dev/nvidiactl');
}

function main(args) {
  const always = args.includes('--always');
  const into = args.includes('--into') ? args[args.indexOf('--into') + 1] : undefined;
  const say = (message) => console.warn(`dts-util: ${message}`);
  const choice = decide({ platform: process.platform, arch: process.arch, mode: always ? 'always' : (process.env.DTS_UTIL_CUDA_PROVIDER ?? 'auto'), driverPresent: driverPresent() });
  if (!choice.fetch) {
    if (always) say(`not fetching the CUDA provider: ${choice.reason}`);
    return 0;
  }
  const ort = ortLibraryDir();
  const pin = pinFor(ort.version);
  if (!pin) {
    say(`no CUDA provider is pinned for onnxruntime-node ${ort.version} (scripts/cuda-provider.json); CUDA stays off`);
    return always ? 1 : 0;
  }
  const dir = into ? path.resolve(into) : ort.dir;
  if (installed(dir, pin)) return 0;
  try {
    fetchProvider(dir, pin, say);
    say(`CUDA provider for onnxruntime-node ${ort.version} installed in ${dir} (needs CUDA ${pin.cuda} and cuDNN ${pin.cudnn}; README "Devices")`);
    return 0;
  } catch (error) {
    say(`the CUDA provider was not installed (${error.message}); CUDA stays off, WebGPU and the CPU work. Try again: npm run cuda-provider`);
    return always ? 1 : 0;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
