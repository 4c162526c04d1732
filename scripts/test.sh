#!/usr/bin/env bash
# All tests: unit, integration and parity tests natively (GPU tests on Mesa lavapipe), the
# builds no machine here runs type-checked (scripts/check-builds.sh: CUDA, Metal, Windows, the
# CLI without models), then the wasm build, wasm-bindgen tests (node and headless Chromium) and
# the page's end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export EMBEVAL_CACHE=${EMBEVAL_CACHE:-$HOME/.cache/embeval}
export CARGO_TARGET_DIR=$EMBEVAL_CACHE/target
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo test --release
scripts/check-builds.sh
export EMBEVAL_BIN=$CARGO_TARGET_DIR/release/embeval
scripts/test-web.sh
