#!/usr/bin/env bash
# Packs what benches/gpu/run.sh needs on a GPU machine that has no cargo and reaches nothing
# (the device tool copies the working tree plus up to 64 MiB of git-ignored paths): the binaries
# scripts/build-cuda.sh made — embeval, the tiny_models test, the search_gpu bench — xz-compressed,
# the bench's texts (EMBEVAL_BENCH_DATA, default ../shared/data/jsquad-valid) and env.sh, which
# unpacks the binaries there and exports EMBEVAL_BIN, EMBEVAL_SEARCH_BENCH, EMBEVAL_TINY_MODELS,
# EMBEVAL_BENCH_DATA and the path of PyTorch's CUDA 13 libraries (cuBLAS, cuRAND, the runtime).
#
# Usage: scripts/build-cuda.sh && benches/gpu/pack.sh [TARGET_DIR] [OUT]
#   TARGET_DIR: the cargo target folder the binaries are in (default: build-cuda.sh's,
#   ~/.cache/embeval/cu130/target); OUT: default .dev/gpu (git-ignored). Then on the device
#   (carry [".dev"]), in the repository root:
#     source .dev/gpu/env.sh && "$EMBEVAL_TINY_MODELS" --test-threads 1 \
#       && benches/gpu/run.sh "$OUT/gb" checks encode:qwen3-0.6b encode:xlmr-large search e2e
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:-$HOME/.cache/embeval/cu130/target}
out=${2:-.dev/gpu}
data=${EMBEVAL_BENCH_DATA:-../shared/data/jsquad-valid}

# The newest build of a test or bench target (cargo names it NAME-HASH, no extension).
newest() {
    find "$target/release/deps" -maxdepth 1 -type f -executable -name "$1-*" ! -name "*.*" -printf '%T@ %p\n' \
        | sort -n | tail -1 | cut -d' ' -f2-
}
embeval=$target/release/embeval tiny=$(newest tiny_models) search=$(newest search_gpu)
for f in "$embeval" "$tiny" "$search"; do
    [ -n "$f" ] && [ -x "$f" ] || {
        echo "pack.sh: no embeval, tiny_models and search_gpu binaries under $target/release: run scripts/build-cuda.sh" >&2
        exit 1
    }
done
[ -f "$data/corpus.jsonl" ] || { echo "pack.sh: $data/corpus.jsonl not found (EMBEVAL_BENCH_DATA)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/bin"
cp "$embeval" "$out/bin/embeval"
cp "$tiny" "$out/bin/tiny_models"
cp "$search" "$out/bin/search_gpu"
# A dictionary larger than a binary: the three share candle's kernels (and, in a flash-attn
# build, 280 MB of flash-attention's), compressed once.
tar -C "$out" -c bin | xz -T1 --lzma2=preset=6,dict=512MiB >"$out/bin.tar.xz"
rm -r "$out/bin"
cp -r "$data" "$out/data"
# The tests find their fixtures under the checkout they were built in (CARGO_MANIFEST_DIR).
built_in=$(pwd)
cat >"$out/env.sh" <<EOF
# Made by benches/gpu/pack.sh: source it in the repository root on the GPU machine.
gpu_pack=\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)
rm -rf /tmp/embeval-gpu-bin && mkdir -p /tmp/embeval-gpu-bin && tar -C /tmp/embeval-gpu-bin -xJf "\$gpu_pack/bin.tar.xz"
export EMBEVAL_BIN=/tmp/embeval-gpu-bin/bin/embeval
export EMBEVAL_SEARCH_BENCH=/tmp/embeval-gpu-bin/bin/search_gpu
export EMBEVAL_TINY_MODELS=/tmp/embeval-gpu-bin/bin/tiny_models
export EMBEVAL_BENCH_DATA=\$gpu_pack/data
gpu_libs=\$(python3 -c 'import nvidia, os; print(":".join(p for p in (os.path.join(d, "cu13", "lib") for d in nvidia.__path__) if os.path.isdir(p)))' 2>/dev/null || true)
[ -z "\$gpu_libs" ] || export LD_LIBRARY_PATH=\$gpu_libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
[ -e "$built_in" ] || { mkdir -p "$(dirname "$built_in")" && ln -s "\$(pwd)" "$built_in"; }
echo "embeval binaries from \$gpu_pack (built in $built_in), texts \$EMBEVAL_BENCH_DATA" >&2
EOF
du -sh "$out"/* >&2
size=$(du -sm "$out" | cut -f1)
[ "$size" -lt 64 ] || echo "pack.sh: $out is $size MiB: more than the device tool carries (64 MiB)" >&2
echo "$out"
