#!/bin/sh
# Packs what bench/gpu needs onto a GPU machine that has no network and no Node: the Node 24
# binary, the compiled bench/diffusion/builder code and the few node_modules they import
# (onnxruntime-node for Linux x64 only), as .gpu/bundle.tar.xz (≈ 40 MB, under the 64 MiB a
# device call carries). Also fetches the Vulkan loader's .deb into .gl/ for WebGPU.
# Run from the repository root after `npm run build`.
set -eu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/node_modules" "$stage/bin" .gpu
cp package.json "$stage/"
cp -r proto "$stage/"
cp node_modules/node/bin/node "$stage/bin/node"
mkdir -p "$stage/dist"
cp -r dist/src dist/tools dist/bench "$stage/dist/"
for m in onnxruntime-common onnx-proto protobufjs long @protobufjs; do cp -r "node_modules/$m" "$stage/node_modules/"; done
mkdir -p "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux"
(cd node_modules/onnxruntime-node && cp -r package.json dist lib "$stage/node_modules/onnxruntime-node/" 2>/dev/null || true)
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/"
tar -C "$stage" -cf - . | xz -T0 -6 > .gpu/bundle.tar.xz
ls -l .gpu/bundle.tar.xz
if [ ! -d .gl ]; then
  # The device machine's image has the NVIDIA driver and its Vulkan ICD but no loader.
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1)
fi
