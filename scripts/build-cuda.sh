#!/usr/bin/env bash
# Type-checks the `cuda` build on a machine without a GPU or CUDA installation: NVIDIA's nvcc,
# headers and NVVM come from PyPI wheels (the only registry our build machines reach), candle's
# kernels are compiled to PTX for sm_90, nothing is linked or run. ~30 min on 2 cores, so not part
# of scripts/test.sh. On a machine with the CUDA toolkit, `cargo build --release --features cuda`.
# Usage: scripts/check-cuda.sh [WORK_DIR]   (default ~/.cache/embeval/cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$HOME/.cache/embeval/cuda}
root=$work/nvidia/cu13
if [ ! -x "$root/bin/nvcc" ]; then
    # CUDA 13.4: the newest that cudarc 0.19 (candle 0.11's) knows.
    pip download --no-deps -d "$work/wheels" nvidia-cuda-nvcc==13.4.92 "nvidia-cuda-runtime==13.4.*" \
        "nvidia-cuda-crt==13.4.*" "nvidia-nvvm==13.4.*" "nvidia-cuda-cccl==13.3.5.0.6"
    for w in "$work"/wheels/*.whl; do unzip -qo "$w" -d "$work"; done
    chmod +x "$root"/bin/* "$root"/nvvm/bin/*
fi
export PATH=$root/bin:$PATH CUDA_ROOT=$root CUDA_PATH=$root CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$work/target}
nvcc --version | tail -2
cargo check --release --features cuda --bin embeval
