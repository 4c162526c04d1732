#!/usr/bin/env bash
# The browser product end to end (after scripts/setup.sh):
#   1. scripts/build-web.sh → www/pkg;
#   2. tests/wasm.rs (+ gpu_search.rs, wasm_models.rs: every architecture on tiny checkpoints)
#      in wasm32 under node, then in headless Chromium (and, run alone, its
#      native twin tests/wasm_parity.rs): the same tiny dataset must give the same bits;
#   3. tests/e2e/e2e.mjs: the page in headless Chromium against the native CLI on real data
#      and the bundled all-MiniLM-L6-v2 (vectors, results, Cache Storage).
#   4. tests/e2e/site.mjs: the deployable www/dist under a path prefix: demo button, drag and
#      drop, the Content-Security-Policy, offline from the service worker, a new deploy.
# Exits non-zero on the first failure. Env: EMBEVAL_CACHE (target dirs, default
# ~/.cache/embeval), EMBEVAL_BIN (a native CLI to compare with; built here when unset).
# Run alone: once scripts/setup.sh has run; scripts/test.sh runs it after the native tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$HOME/.cargo/bin:$PATH
cache=${EMBEVAL_CACHE:-$HOME/.cache/embeval}

scripts/build-web.sh

# One target dir and flag set for wasm tests: each change of either rebuilds std (~9 min cold).
# Arguments: extra environment (VAR=value ...) for the test runner.
wasm_test() {
    env CARGO_TARGET_DIR="$cache/target-wasm-test" RUSTFLAGS="-C target-feature=+simd128" \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$(command -v wasm-bindgen-test-runner)" "$@" \
        scripts/cargo-target.sh wasm32-unknown-unknown test --no-default-features --features gpu,models \
        --test wasm --test gpu_search --test wasm_models -- --nocapture
}
# The tests' own lines (adapters, skips) are shown with --nocapture; skips are repeated at the end
# of each run so that a missing adapter cannot go unnoticed.
wasm_test_where() {
    local where=$1 log
    shift
    log=$(mktemp)
    echo "test-web: tests/wasm.rs $where"
    wasm_test "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    grep -h 'SKIPPED' "$log" | sort | uniq -c | sed "s/^ */test-web: $where: /" || true
    rm -f "$log"
    return "$rc"
}
wasm_test_where "under node (no WebGPU there: GPU tests skip)"
wasm_test_where "in headless Chromium" WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver

if [ -z "${EMBEVAL_BIN:-}" ]; then
    # Standalone: the native twin of tests/wasm.rs, and a CLI to compare the page with.
    # (scripts/test.sh runs the twin in its `cargo test` and passes its CLI in EMBEVAL_BIN.)
    echo "test-web: tests/wasm_parity.rs natively"
    cargo test -q --release --no-default-features --features cli --test wasm_parity
    cargo build -q --release --no-default-features --features cli,models
    export EMBEVAL_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/embeval
fi
echo "test-web: the page in headless Chromium against $EMBEVAL_BIN"
node tests/e2e/e2e.mjs
echo "test-web: the static site www/dist in headless Chromium"
node tests/e2e/site.mjs
