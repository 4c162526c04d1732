#!/usr/bin/env bash
# Type-checks the GPU builds this machine cannot make, so code that breaks them fails here rather
# than on a user's GPU machine: every target (library, CLI, tests, benches) of
#   - `--features flash-attn` (implies `cuda`: candle's CUDA backend, cudarc, flash-attention 2)
#     for x86_64 Linux, without the CUDA toolkit;
#   - `--features metal` (candle's Metal backend) for Apple silicon (aarch64-apple-darwin), on
#     Linux — which also catches code that only builds on Linux or x86-64;
#   - the default build for Windows (x86_64-pc-windows-msvc), on Linux;
#   - `--no-default-features --features cli`: the CLI without neural models (no candle), which
#     scripts/test-web.sh builds (with its native wasm_parity twin) when run on its own.
# `cargo check` links nothing and runs nothing: this shows that the builds compile, not that CUDA
# or Metal work (scripts/build-cuda.sh makes a real cuda binary; benches/gpu/run.sh runs it).
#
# Stand-ins, since a check never uses what they would make: an `nvcc` that prints a CUDA 13.0
# version and writes empty PTX files, objects and archives (candle's kernels and flash-attention's
# CUTLASS kernels are compiled to embed or link, never to check); an empty CUTLASS checkout at the
# commit candle-flash-attn asks for (its build clones it from GitHub otherwise); and a C compiler
# and archiver for the Mac and Windows targets writing empty objects (ring, onig, esaxx and blake3
# compile C that would need Apple's SDK or MSVC). Without rustup's targets (build machines cannot
# add them), Debian's rustc-web type-checks std from its sources (rust-web-src):
# scripts/cargo-target.sh, as for wasm.
#
# Env: EMBEVAL_CACHE (default ~/.cache/embeval) keeps the target dir (target-check) warm.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${EMBEVAL_CACHE:-$HOME/.cache/embeval}/target-check
stand_ins=$CARGO_TARGET_DIR/stand-ins
mkdir -p "$stand_ins/cuda/bin" "$stand_ins/cuda/include"

# An empty file wherever the output goes: `-o FILE`, MSVC-style `-FoFILE` or (lib.exe)
# `-out:FILE`, or nvcc's `--ptx --output-directory DIR SRC.cu` (DIR/SRC.ptx).
cat > "$stand_ins/empty-output" <<'EOF'
#!/bin/sh
case " $* " in *" --version "*)
    printf 'nvcc: NVIDIA (R) Cuda compiler driver\n(stand-in for cargo check)\n\nCuda compilation tools, release 13.0, V13.0.88\n'
    exit 0 ;;
esac
out=""; dir="."; ptx=""; prev=""; last=""
for a in "$@"; do
    [ "$prev" = "-o" ] && out="$a"
    [ "$prev" = "--output-directory" ] && dir="$a"
    case "$a" in -Fo*) out="${a#-Fo}" ;; -out:* | -OUT:*) out="${a#*:}" ;; --ptx) ptx=1 ;; esac
    prev="$a"; last="$a"
done
if [ -n "$out" ]; then : > "$out"; elif [ -n "$ptx" ]; then : > "$dir/$(basename "$last" .cu).ptx"; fi
EOF
chmod +x "$stand_ins/empty-output"
ln -sf ../../empty-output "$stand_ins/cuda/bin/nvcc"

# candle-flash-attn's CUTLASS commit; cudaforge reuses a checkout whose HEAD is that commit.
cutlass=$(sed -n 's/^const CUTLASS_COMMIT: &str = "\([0-9a-f]*\)";/\1/p' \
    "$(scripts/crate-dir.sh candle-flash-attn flash-attn)/build.rs")
checkout=$stand_ins/cudaforge/git/checkouts/cutlass-${cutlass:0:16}
if [ ! -d "$checkout/include" ]; then
    git init -q "$checkout" && echo "$cutlass" > "$checkout/.git/HEAD" && mkdir "$checkout/include"
fi

PATH=$stand_ins/cuda/bin:$PATH CUDA_ROOT=$stand_ins/cuda CUDA_PATH=$stand_ins/cuda CUDA_COMPUTE_CAP=90 \
    CUDAFORGE_HOME=$stand_ins/cudaforge cargo check --release --features flash-attn --all-targets
echo "check-builds: --features flash-attn (cuda) type-checks for x86_64 Linux"

mac=aarch64-apple-darwin
CC_aarch64_apple_darwin=$stand_ins/empty-output CXX_aarch64_apple_darwin=$stand_ins/empty-output \
    AR_aarch64_apple_darwin=ar scripts/cargo-target.sh "$mac" check --release --features metal --all-targets
echo "check-builds: --features metal type-checks for $mac"

win=x86_64-pc-windows-msvc
CC_x86_64_pc_windows_msvc=$stand_ins/empty-output CXX_x86_64_pc_windows_msvc=$stand_ins/empty-output \
    AR_x86_64_pc_windows_msvc=$stand_ins/empty-output scripts/cargo-target.sh "$win" check --release --all-targets
echo "check-builds: the default build type-checks for $win"

cargo check --release --no-default-features --features cli --lib --bins --test wasm_parity
echo "check-builds: --no-default-features --features cli type-checks"
