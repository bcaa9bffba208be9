#!/bin/sh
# Runs bench/gpu on a bare GPU machine (no network, no Node): unpacks the bundle pack.sh made,
# installs the carried Vulkan loader for WebGPU, and runs the benchmark. From the repository root:
#   sh bench/gpu/run.sh        (the device call carries .gpu and .gl)
set -eu
root=$(pwd)
if [ -d .gl ] && ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# The driver's Vulkan ICD lives with the mounted driver on these machines, not in /usr/share.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
echo "vulkan ICDs: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null | tr '\n' ' ') VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
work=${BENCH_GPU_WORK:-/tmp/dts-bench-gpu}
mkdir -p "$work/pkg"
xz -dc "$root/.gpu/bundle.tar.xz" | tar -C "$work/pkg" -xf -
export BENCH_GPU_MODELS_DIR="${BENCH_GPU_MODELS_DIR:-$work}"
exec "$work/pkg/bin/node" "$work/pkg/dist/bench/gpu/index.js"
