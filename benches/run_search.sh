#!/usr/bin/env bash
# Exact search, CPU vs the WGSL shaders, on each software adapter this machine has (lavapipe
# from mesa-vulkan-drivers; SwiftShader from Debian's chromium package), one run, JSON lines.
# SwiftShader natively runs 256 × 8192 only (1000 × 100000 takes minutes per call there; set
# EMBEVAL_BENCH_SWIFTSHADER_ALL=1 for both). The page's WebGPU (SwiftShader inside Chromium) is
# benches/web/bench.mjs --search.
# Usage: benches/run_search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo bench --quiet --bench search_gpu | grep '^{'
swiftshader=/usr/lib/chromium/vk_swiftshader_icd.json
if [ -f "$swiftshader" ]; then
    shape=256x8192
    [ -n "${EMBEVAL_BENCH_SWIFTSHADER_ALL:-}" ] && shape=
    VK_ICD_FILENAMES=$swiftshader EMBEVAL_BENCH_PATH=gpu EMBEVAL_BENCH_SHAPE=$shape \
        cargo bench --quiet --bench search_gpu | grep '^{'
fi
