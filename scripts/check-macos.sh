#!/usr/bin/env bash
# Type-checks the `--features metal` build for Apple silicon (aarch64-apple-darwin) on Linux:
# every target (library, CLI, tests, benches) with candle's Metal backend compiled in, so code
# that only builds on Linux or x86-64 fails here rather than on a Mac. `cargo check` links
# nothing and runs nothing: it cannot show that Metal works, only that the build does.
#
# Without rustup's aarch64-apple-darwin target (build machines cannot add one), Debian's
# rustc-web type-checks std from its sources (rust-web-src), as scripts/build-web.sh does for
# wasm. The C parts of dependencies (ring, onig, esaxx, blake3's NEON) would need Apple's SDK
# to compile and are never linked by a check: a stand-in compiler writes empty objects.
#
# Env: EMBEVAL_CACHE (default ~/.cache/embeval) keeps the target dir (target-macos) warm.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-apple-darwin
export CARGO_TARGET_DIR=${EMBEVAL_CACHE:-$HOME/.cache/embeval}/target-macos
mkdir -p "$CARGO_TARGET_DIR"
stand_in=$CARGO_TARGET_DIR/empty-object-cc
cat > "$stand_in" <<'EOF'
#!/bin/sh
# An empty object wherever -o (or MSVC-style -Fo) points; nothing else.
out=""; prev=""
for a in "$@"; do
    [ "$prev" = "-o" ] && out="$a"
    case "$a" in -Fo*) out="${a#-Fo}" ;; esac
    prev="$a"
done
[ -z "$out" ] || : > "$out"
EOF
chmod +x "$stand_in"
export CC_aarch64_apple_darwin=$stand_in CXX_aarch64_apple_darwin=$stand_in AR_aarch64_apple_darwin=ar

args=(check --release --target "$target" --features metal --all-targets)
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    cargo "${args[@]}"
else
    PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo "${args[@]}" -Zbuild-std=std,panic_abort
fi
echo "check-macos: the metal build type-checks for $target"
