#!/usr/bin/env bash
# Builds embeval with `--features cuda` on a machine without a GPU, a driver or a CUDA install —
# how the binary measured on an H100 in BENCHMARKS.md was made. NVIDIA's nvcc, headers, NVVM,
# cuBLAS, cuRAND and NVRTC come from PyPI wheels (the only registry our build machines reach);
# candle's kernels are compiled to PTX for sm_90 (CUDA_COMPUTE_CAP to change); the driver library
# libcuda.so.1 is linked against a stub made here from cudarc's list of driver functions and is
# the real one at run time. CUDA 13.0: its PTX loads on every driver of the 13.x line (≥ 580);
# a newer toolkit's PTX needs a newer driver. ~30 min on 2 cores from scratch, so not in CI.
#
# On the GPU machine: libcublas.so.13, libcublasLt.so.13, libcurand.so.10 and libcudart.so.13 on
# the library path (a CUDA 13 toolkit, or PyTorch's cu130 wheels: LD_LIBRARY_PATH=
# $(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))')).
# On a machine with the CUDA toolkit installed, plain `cargo build --release --features cuda`.
#
# EMBEVAL_FLASH_ATTN=1 adds `--features flash-attn` (flash-attention 2 for `--attention varlen`,
# the default on CUDA in f16/bf16): candle-flash-attn compiles 53 CUTLASS kernel files with nvcc
# — 1 h 46 min on this project's 2-core build machine with two nvcc at a time (each up to ~4 GiB;
# 2.5–5 h with cudaforge's default of half the cores), minutes on a big machine — into
# CANDLE_FLASH_ATTN_BUILD_DIR (default
# ~/.cache/embeval/flash-attn), reused by later builds. Its build script (cudaforge) clones
# CUTLASS 7d49e6c7 from GitHub into ~/.cudaforge/git/checkouts/cutlass-7d49e6c7e2f8896c; where
# GitHub is unreachable, put a checkout of NVIDIA/cutlass at that commit there first.
#
# Usage: scripts/build-cuda.sh [WORK_DIR]   (default ~/.cache/embeval/cu130)
#        → $CARGO_TARGET_DIR/release/embeval, the tiny_models test and search_gpu bench binaries (paths printed);
#        benches/gpu/pack.sh then packs them for a GPU machine without cargo
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$HOME/.cache/embeval/cu130}
root=$work/nvidia/cu13
if [ ! -x "$root/bin/nvcc" ]; then
    pip download --no-deps -d "$work/wheels" nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.88 \
        nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85 "nvidia-cublas==13.0.*" \
        "nvidia-curand==10.4.0.*" "nvidia-cuda-nvrtc==13.0.*"
    for w in "$work"/wheels/*.whl; do unzip -qo "$w" -d "$work"; done
    chmod +x "$root"/bin/* "$root"/nvvm/bin/*
fi
if [ ! -e "$root/lib/libcuda.so" ]; then
    # The linker wants unversioned names; the driver is a stub with the soname of the real one.
    (cd "$root/lib" && for l in cublas cublasLt cudart nvrtc; do ln -sf lib$l.so.13 lib$l.so; done \
        && ln -sf libcurand.so.10 libcurand.so)
    cudarc=$(scripts/crate-dir.sh cudarc cuda)
    mkdir -p "$root/lib/stubs"
    grep -o "fn cu[A-Za-z0-9_]*" "$cudarc/src/driver/sys/mod.rs" | sort -u \
        | sed 's/fn \(.*\)/int \1(void) { return 999; }/' > "$root/lib/stubs/cuda_stub.c"
    cc -shared -fPIC -o "$root/lib/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$root/lib/stubs/cuda_stub.c"
    ln -sf stubs/libcuda.so "$root/lib/libcuda.so"
fi
export PATH=$root/bin:$PATH CUDA_ROOT=$root CUDA_PATH=$root CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$work/target}
nvcc --version | tail -2
features=cuda
if [ "${EMBEVAL_FLASH_ATTN:-0}" = 1 ]; then
    features=flash-attn
    export CANDLE_FLASH_ATTN_BUILD_DIR=${CANDLE_FLASH_ATTN_BUILD_DIR:-$HOME/.cache/embeval/flash-attn}
    mkdir -p "$CANDLE_FLASH_ATTN_BUILD_DIR"
    # cudaforge runs nvcc on half the cores unless told; every core here, as many as the memory
    # holds at ~4 GiB per nvcc.
    mem_gib=$(awk '/MemAvailable/ { print int($2 / 1048576) }' /proc/meminfo)
    threads=$(( mem_gib / 4 < $(nproc) ? mem_gib / 4 : $(nproc) ))
    export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(( threads > 0 ? threads : 1 ))}
    echo "flash-attention kernels: $CUDAFORGE_THREADS nvcc at a time"
fi
# The test binary needs the embeval binary too, so this builds both; then the search bench
# (benches/gpu/run.sh's EMBEVAL_SEARCH_BENCH: cuBLAS search through candle and the WGSL shaders).
cargo test --release --features "$features" --no-run --test tiny_models
cargo bench --features "$features" --no-run --bench search_gpu
echo "$CARGO_TARGET_DIR/release/embeval"
