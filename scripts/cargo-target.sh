#!/usr/bin/env bash
# cargo for another target: with rustup's std for it where rustup has the target installed, else
# with Debian's rustc-web, std type-checked or built from its sources (rust-web-src) — build
# machines cannot add rustup targets (see the TOOLCHAIN notes). Used by build-web.sh,
# test-web.sh and check-builds.sh.
# Usage: scripts/cargo-target.sh TARGET CARGO_COMMAND [ARGS...] [-- ARGS for the test binaries]
set -euo pipefail
target=$1
shift
args=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    args+=("$1")
    shift
done
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "cargo-target: $target with rustup's std" >&2
    exec cargo "${args[@]}" --target "$target" "$@"
fi
echo "cargo-target: $target with Debian rustc-web + build-std" >&2
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
exec /usr/bin/cargo "${args[@]}" --target "$target" -Zbuild-std=std,panic_abort "$@"
