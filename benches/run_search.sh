#!/usr/bin/env bash
# Exact search, CPU vs the WGSL shaders, on each software adapter this machine has (lavapipe
# from mesa-vulkan-drivers; SwiftShader from Debian's chromium package), one run, JSON lines.
# Usage: benches/run_search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo bench --quiet --bench search_gpu | grep '^{'
swiftshader=/usr/lib/chromium/vk_swiftshader_icd.json
if [ -f "$swiftshader" ]; then
    VK_ICD_FILENAMES=$swiftshader cargo bench --quiet --bench search_gpu | grep '^{' | grep -v '"path": "cpu"'
fi
