#!/bin/sh
# Device selection on real hardware: `dts-util serve --device auto` on a GPU machine logs each
# device it found and the one it chose; `dts-util test` and generations (SD 1.5 and SDXL
# layouts, tiny built models) report it. From the repository root, with .gpu/ (pack.sh --serve)
# and .gl/ carried:   sh bench/gpu/serve-check.sh     (DEVICE=webgpu|cuda|cpu to force one)
set -eu
work=${BENCH_GPU_WORK:-/tmp/dts-serve-check}
. bench/gpu/setup.sh
node="$work/pkg/bin/node"
cli() { "$node" "$work/pkg/bin/run.js" "$@"; }
export DTS_UTIL_HOME="$work/home" HOME="$work/home"
for m in tiny-sd15 tiny-sdxl-fp16; do "$node" "$work/pkg/dist/tools/model-builder/cli.js" "$m" "$DTS_UTIL_HOME/models/$m" --seed 1 >/dev/null; done
port=17859
cli serve --port "$port" --device "${DEVICE:-auto}" --default-model tiny-sd15 >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
i=0
until grep -q 'listening' "$work/serve.log"; do
  i=$((i + 1)); [ $i -le 120 ] || { cat "$work/serve.log"; exit 1; }
  sleep 0.5
done
echo '--- serve start-up (device lines)'
grep -i -E 'device|gpu|webgpu|cuda|listening' "$work/serve.log" | cut -c1-400
echo '--- dts-util test'
cli test --port "$port" || true
for m in tiny-sd15 tiny-sdxl-fp16; do
  echo "--- generate $m"
  cli generate 'a red apple' --port "$port" --model "$m" --width 128 --height 128 --steps 4 --seed 3 --out "$work/out" --json |
    "$node" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const info=typeof r.info==="string"?JSON.parse(r.info):r.info??{};console.log(JSON.stringify({files:r.files,device:info.device,family:info.family,fallbacks:info.device_fallbacks,timings:info.timings_ms}))})' || true
done
echo '--- serve log, warnings and errors'
grep -E '"level":"(warn|error)"' "$work/serve.log" | cut -c1-400 || true
