#!/bin/sh
# Packs what bench/gpu needs onto a GPU machine that has no network and no Node: the Node 24
# binary, the compiled code and the node_modules it imports (onnxruntime-node for Linux x64
# only), as .gpu/bundle.tar.xz, under the 64 MiB a device call carries. Also fetches the Vulkan
# loader and the GL dispatch libraries NVIDIA's Vulkan driver needs into .gl/ (for WebGPU).
#   sh bench/gpu/pack.sh            the benchmark only (≈ 45 MB)
#   sh bench/gpu/pack.sh --serve    the whole dts-util CLI and server too (serve-check.sh)
#   sh bench/gpu/pack.sh --cuda     also ONNX Runtime's CUDA provider (from the npm registry, see
#                                   scripts/fetch-cuda-provider.mjs), xz-compressed and split into
#                                   .gpu/cuda-provider.xz.part-* of 56 MiB: one device call each
#                                   (165 MB does not fit the 64 MiB a call carries)
# Run from the repository root after `npm run build`.
set -eu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/node_modules" "$stage/bin" "$stage/dist" .gpu
cp package.json "$stage/"
cp -r proto "$stage/"
cp node_modules/node/bin/node "$stage/bin/node"
cp -r dist/src dist/tools dist/bench "$stage/dist/"
# fusion-parity.ts compares runs with the tests' helper, on blocks torch.onnx.export writes here
# (Debian's python3-torch): the GPU machine runs the fused kernels the tests cannot.
mkdir -p "$stage/dist/test/helpers"
cp dist/test/helpers/onnx-parity.js "$stage/dist/test/helpers/"
/usr/bin/python3 tools/torch-export/attention_blocks.py "$stage/blocks" >/dev/null
mkdir -p "$stage/torch-export"
cp tools/torch-export/ort_fusion_anchor.py tools/torch-export/attention_blocks.py "$stage/torch-export/"
if [ "${1:-}" = "--serve" ] || [ "${2:-}" = "--serve" ]; then
  cp -r bin templates models oclif.manifest.json "$stage/"
  cp bin/run.js "$stage/bin/run.js"
  # Every runtime module but the big ones that are not needed there: Node itself (bin/node
  # above), the build tools, and onnxruntime-node's binaries for other platforms.
  for m in node_modules/* node_modules/.bin; do
    case "$m" in
      node_modules/node|node_modules/onnxruntime-node|node_modules/typescript|node_modules/dprint-node|node_modules/.bin) ;;
      node_modules/@bufbuild) mkdir -p "$stage/node_modules/@bufbuild" && cp -r node_modules/@bufbuild/protobuf "$stage/node_modules/@bufbuild/" ;;
      *) cp -r "$m" "$stage/node_modules/" ;;
    esac
  done
else
  for m in onnxruntime-common onnx-proto protobufjs long @protobufjs; do cp -r "node_modules/$m" "$stage/node_modules/"; done
fi
mkdir -p "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux"
(cd node_modules/onnxruntime-node && cp -r package.json dist lib "$stage/node_modules/onnxruntime-node/")
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/"
# The big provider travels on its own (below); the bundle keeps the rest of onnxruntime-node small.
rm -f "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_"*
if [ "${1:-}" = "--cuda" ] || [ "${2:-}" = "--cuda" ]; then
  mkdir -p .gpu/cuda
  node_modules/.bin/node scripts/fetch-cuda-provider.mjs --always --into .gpu/cuda
  cp .gpu/cuda/libonnxruntime_providers_shared.so .gpu/cuda/dts-util-cuda-provider.json "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/"
  if [ ! -f .gpu/cuda-provider.xz.part-aa ]; then
    xz -T0 -6 -c .gpu/cuda/libonnxruntime_providers_cuda.so | split -b 56M - .gpu/cuda-provider.xz.part-
  fi
  ls -l .gpu/cuda-provider.xz.part-*
fi
tar -C "$stage" -cf - . | xz -T0 -6 > .gpu/bundle.tar.xz
ls -l .gpu/bundle.tar.xz
if [ ! -d .gl ]; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libgles2 libopengl0)
fi
