#!/bin/sh
# Runs bench/gpu on a bare GPU machine (no network, no Node), from the repository root, with
# .gpu/ and .gl/ from pack.sh carried along:   sh bench/gpu/run.sh
set -eu
work=${BENCH_GPU_WORK:-/tmp/dts-bench-gpu}
. bench/gpu/setup.sh
export BENCH_GPU_MODELS_DIR="${BENCH_GPU_MODELS_DIR:-$work}"
exec "$work/pkg/bin/node" "$work/pkg/dist/bench/gpu/index.js"
