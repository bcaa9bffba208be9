# Sourced by run.sh and serve-check.sh on a bare GPU machine: installs the carried Vulkan
# loader (WebGPU needs it), points the loader at the driver's ICD when only the driver's mount
# has it, and unpacks the bundle into $work/pkg.
if [ -d .gl ] && ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
echo "vulkan ICDs: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null | tr '\n' ' ') VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
mkdir -p "$work/pkg"
xz -dc .gpu/bundle.tar.xz | tar -C "$work/pkg" -xf -
# ONNX Runtime's CUDA provider, when pack.sh --cuda made it and every part was carried here.
if ls .gpu/cuda-provider.xz.part-* >/dev/null 2>&1; then
  cat .gpu/cuda-provider.xz.part-* | xz -dc > "$work/pkg/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so"
  echo "cuda provider: $(ls -l "$work/pkg/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so")"
fi
# NVIDIA's CUDA 13 wheels in the machine's Python venv: the server and the bench find them
# themselves (src/diffusion/cuda-libraries.ts), through the venv whose python3 is on PATH.
echo "python3: $(command -v python3 || echo none)"
