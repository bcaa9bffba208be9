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
