import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UsageError } from '../../src/config/errors.js';
import { deviceError, devicePreference } from '../../src/diffusion/device.js';
import { CUDA_LIBRARIES } from '../../src/diffusion/cuda-libraries.js';
import { chooseDevice, probeDevices, type DeviceFound, type ProbeHost } from '../../src/diffusion/device-probe.js';

/** A machine as the probe sees it; by default a Linux box with no GPU, no CUDA provider, no Vulkan. */
function host(overrides: Partial<ProbeHost> & { libraries?: string[]; libraryDirs?: string[]; sessions?: Record<string, string | undefined> } = {}): ProbeHost & { tried: string[] } {
  const tried: string[] = [];
  const { libraries = [], libraryDirs = [], sessions = {}, ...rest } = overrides;
  return {
    platform: 'linux',
    backends: () => ['cpu', 'webgpu', 'cuda', 'tensorrt'],
    cudaProviderInstalled: () => false,
    nvidiaGpus: () => [],
    findLibrary: (name) => (libraries.includes(name) ? `/usr/lib/x86_64-linux-gnu/${name}` : undefined),
    cudaLibraries: () => ({
      found: new Map(libraries.filter((l) => l.startsWith('libcu')).map((l) => [l, `/usr/lib/x86_64-linux-gnu/${l}`])),
      missing: CUDA_LIBRARIES.filter((l) => !libraries.includes(l.file)),
      dirs: libraryDirs,
    }),
    vulkanDrivers: () => ['nvidia_icd.json'],
    trySession: async (device, gpu, dirs = []) => {
      tried.push(`${device}:${gpu}${dirs.length ? ` with ${dirs.join(':')}` : ''}`);
      return sessions[device];
    },
    cpuName: () => 'Test CPU, 2 threads',
    tried,
    ...rest,
  };
}

const gpuBox = (extra: Parameters<typeof host>[0] = {}) => host({ nvidiaGpus: () => ['NVIDIA H100 80GB HBM3'], cudaProviderInstalled: () => true, libraries: ['libvulkan.so.1', ...CUDA_LIBRARIES.map((l) => l.file)], ...extra });
const byName = (devices: DeviceFound[]) => Object.fromEntries(devices.map((d) => [d.name, d]));

describe('device probe', () => {
  it('on a machine with no GPU finds only the CPU, says why for each GPU device, and runs no test model', async () => {
    const machine = host();
    const found = byName(await probeDevices(0, machine));
    assert.equal(found.cuda!.usable, false);
    // Without a GPU, the line names that alone: the provider and libraries do not matter then.
    assert.equal(found.cuda!.detail, 'no NVIDIA GPU visible (no /proc/driver/nvidia/gpus, no /dev/nvidia0)');
    assert.equal(found.webgpu!.usable, false);
    assert.match(found.webgpu!.detail, /^no Vulkan loader \(libvulkan\.so\.1\): install libvulkan1/);
    assert.deepEqual(found.cpu, { name: 'cpu', usable: true, detail: 'Test CPU, 2 threads' });
    assert.deepEqual(machine.tried, []);
  });

  it('on a GPU machine runs a test model on each GPU device and names the GPU', async () => {
    const machine = gpuBox();
    const found = byName(await probeDevices(0, machine));
    assert.deepEqual(found.cuda, { name: 'cuda', usable: true, detail: 'NVIDIA H100 80GB HBM3 (GPU 0 of 1)', libraryDirs: [] });
    assert.equal(found.webgpu!.usable, true);
    assert.match(found.webgpu!.detail, /Vulkan loader \/usr\/lib\/x86_64-linux-gnu\/libvulkan\.so\.1/);
    assert.deepEqual(machine.tried.sort(), ['cuda:0', 'webgpu:0']);
  });

  it('says what is missing when a GPU is there but the CUDA provider, the GPU index or the CUDA libraries are not', async () => {
    const noProvider = byName(await probeDevices(0, gpuBox({ cudaProviderInstalled: () => false }))).cuda!;
    assert.match(noProvider.detail, /^NVIDIA H100 80GB HBM3 found, but the CUDA provider of onnxruntime-node is not installed: `npm run cuda-provider` fetches it from the npm registry/);
    const wrongIndex = byName(await probeDevices(2, gpuBox())).cuda!;
    assert.match(wrongIndex.detail, /GPU 2 asked for \(--gpu\), but 1 NVIDIA GPU visible/);
    const noCudnn = gpuBox({ libraries: ['libvulkan.so.1', 'libcudart.so.13', 'libcublasLt.so.13', 'libcurand.so.10'] });
    const missing = byName(await probeDevices(0, noCudnn)).cuda!;
    assert.equal(missing.usable, false);
    assert.match(
      missing.detail,
      /^NVIDIA H100 80GB HBM3 found, but CUDA libraries missing: libcublas\.so\.13 \(cuBLAS 13\), libcudnn\.so\.9 \(cuDNN 9\); install NVIDIA's CUDA 13 runtime and cuDNN 9 .*pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand nvidia-cudnn-cu13/,
    );
    assert.ok(!noCudnn.tried.some((t) => t.startsWith('cuda')), 'a test model ran on CUDA with libraries missing');
    const failing = byName(await probeDevices(0, gpuBox({ sessions: { cuda: 'a test model failed: CUDA driver version is insufficient for CUDA runtime version' } }))).cuda!;
    assert.equal(failing.detail, 'NVIDIA H100 80GB HBM3 found, but a test model failed: CUDA driver version is insufficient for CUDA runtime version');
  });

  it("runs CUDA's test model with the library folders it found, and hands them on for the worker", async () => {
    const wheels = ['/venv/lib/python3.12/site-packages/nvidia/cu13/lib', '/venv/lib/python3.12/site-packages/nvidia/cudnn/lib'];
    const machine = gpuBox({ libraryDirs: wheels });
    const devices = await probeDevices(0, machine);
    assert.ok(machine.tried.includes(`cuda:0 with ${wheels.join(':')}`), machine.tried.join(', '));
    const cuda = byName(devices).cuda!;
    assert.equal(cuda.detail, `NVIDIA H100 80GB HBM3 (GPU 0 of 1); CUDA libraries from ${wheels.join(', ')}`);
    assert.deepEqual(chooseDevice('auto', devices, true).libraryDirs, wheels);
  });

  it('marks WebGPU unusable when its test model fails, with the reason, and when the build lacks it', async () => {
    const failing = byName(await probeDevices(0, gpuBox({ sessions: { webgpu: 'a test model failed: Failed to get a WebGPU adapter: No supported adapters' } }))).webgpu!;
    assert.equal(failing.usable, false);
    assert.match(failing.detail, /^Vulkan loader .* found, but a test model failed: Failed to get a WebGPU adapter/);
    const noDriver = byName(await probeDevices(0, gpuBox({ vulkanDrivers: () => [], sessions: { webgpu: 'a test model failed: Failed to get a WebGPU adapter: No supported adapters' } }))).webgpu!;
    assert.match(noDriver.detail, /No supported adapters \(no Vulkan driver installed: \/usr\/share\/vulkan\/icd\.d, .* list none; install your GPU vendor's Vulkan driver\)$/);
    const noBuild = byName(await probeDevices(0, gpuBox({ backends: () => ['cpu'] }))).webgpu!;
    assert.deepEqual([noBuild.usable, noBuild.detail], [false, 'this onnxruntime-node build has no WebGPU provider']);
  });
});

const found = (usable: { cuda?: boolean; webgpu?: boolean }): DeviceFound[] => [
  { name: 'cuda', usable: usable.cuda ?? false, detail: usable.cuda ? 'NVIDIA H100' : 'no NVIDIA GPU visible' },
  { name: 'webgpu', usable: usable.webgpu ?? false, detail: usable.webgpu ? 'a test model ran' : 'no Vulkan loader' },
  { name: 'cpu', usable: true, detail: 'Test CPU' },
];

describe('device choice', () => {
  it('auto with no GPU chooses the CPU and says why', () => {
    const choice = chooseDevice('auto', found({}), true);
    assert.equal(choice.chosen, 'cpu');
    assert.equal(choice.reason, 'auto: no GPU is usable (cuda: no NVIDIA GPU visible; webgpu: no Vulkan loader)');
    assert.deepEqual(choice.order, ['cpu']);
  });

  it('auto takes CUDA, then WebGPU, then the CPU, keeping the rest as fallbacks', () => {
    assert.deepEqual(chooseDevice('auto', found({ cuda: true, webgpu: true }), true).order, ['cuda', 'webgpu', 'cpu']);
    const webgpu = chooseDevice('auto', found({ webgpu: true }), true);
    assert.equal(webgpu.chosen, 'webgpu');
    assert.equal(webgpu.reason, 'auto: webgpu is the first usable device of cuda, webgpu, cpu (cuda: no NVIDIA GPU visible)');
    assert.deepEqual(webgpu.order, ['webgpu', 'cpu']);
    // Fallback off: the choice is final, nothing to fall back to at run time.
    assert.deepEqual(chooseDevice('auto', found({ cuda: true, webgpu: true }), false).order, ['cuda']);
  });

  it('a named device that is usable comes first, the other usable ones after it', () => {
    const choice = chooseDevice('webgpu', found({ cuda: true, webgpu: true }), true);
    assert.deepEqual([choice.chosen, choice.reason, choice.order], ['webgpu', 'webgpu as configured', ['webgpu', 'cuda', 'cpu']]);
    assert.deepEqual(chooseDevice('cpu', found({ cuda: true }), true).order, ['cpu']);
  });

  it('a named device that is not usable falls back with the reason, still tried first at load', () => {
    const choice = chooseDevice('cuda', found({}), true);
    assert.equal(choice.chosen, 'cpu');
    assert.equal(choice.reason, 'cuda was asked for but is not usable (no NVIDIA GPU visible); falling back to cpu (--no-device-fallback makes this an error)');
    assert.deepEqual(choice.order, ['cuda', 'cpu']);
  });

  it('with fallback off, a named device that is not usable is a usage error that says why and what to do', () => {
    assert.throws(
      () => chooseDevice('cuda', found({ webgpu: true }), false),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.message, 'device cuda was asked for with device fallback off (--no-device-fallback), but it is not usable here: no NVIDIA GPU visible');
        assert.match(error.suggestion!, /README "Devices".*--device auto.*drop --no-device-fallback to run on webgpu instead/);
        return true;
      },
    );
  });
});

describe('device preference in a model load', () => {
  it('takes the server’s probed order as a comma list', () => {
    assert.deepEqual(devicePreference('cuda,webgpu,cpu'), ['cuda', 'webgpu', 'cpu']);
    assert.deepEqual(devicePreference('webgpu'), ['webgpu', 'cpu']);
    assert.deepEqual(devicePreference('cpu'), ['cpu']);
  });

  // This machine's onnxruntime-node was installed without the CUDA provider (.npmrc skips it).
  it('without a probe, auto is CUDA only when its provider is installed', () => {
    assert.deepEqual(devicePreference('auto'), ['cpu']);
  });

  it('shortens ONNX Runtime errors to the reason', () => {
    const webgpu = new Error(
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n',
    );
    assert.equal(deviceError(webgpu), 'Failed to get a WebGPU adapter: No supported adapters');
    assert.equal(deviceError(new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library\nmore')), 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
  });
});
