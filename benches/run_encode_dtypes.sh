#!/usr/bin/env bash
# Half precision on the CPU: embeval's fast path with bf16 weights (`--dtype bf16`) against its
# f32 path, the candle graph in bf16 (`--attention eager`: what `--dtype bf16` ran before) and
# sentence-transformers in f32 and bf16 (model_kwargs dtype), same texts and threads
# (benches/encode.rs, benches/reference_encode.py: median of 3). Then peak memory of one
# `embeval encode` of the same texts per setting (GNU time's maximum resident set).
#   pip install sentence-transformers
# Usage: benches/run_encode_dtypes.sh MODEL_DIR [TEXTS]   (TEXTS: first N of each list, default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
export EMBEVAL_ENCODE_TEXTS=${2:-8}
cargo build --release --quiet --bench encode --bin embeval
for setting in "f32 auto" "bf16 eager" "bf16 auto"; do
    set -- $setting
    EMBEVAL_ENCODE_DTYPE=$1 EMBEVAL_ENCODE_ATTENTION=$2 cargo bench --quiet --bench encode -- "$model" | grep '^{'
done
for dtype in f32 bf16; do
    EMBEVAL_ENCODE_DTYPE=$dtype python3 benches/reference_encode.py "$model"
done
# PyTorch's bf16 on a CPU without bf16 instructions (AVX-512 without AVX512_BF16 or AMX, as
# Skylake to Ice Lake servers): oneDNN held to that instruction set.
ONEDNN_MAX_CPU_ISA=AVX512_CORE EMBEVAL_ENCODE_DTYPE=bf16 python3 benches/reference_encode.py "$model" |
    sed 's/"dtype": "bf16"/"dtype": "bf16", "onednn_max_cpu_isa": "AVX512_CORE"/'
# Peak memory: one encode job of the first N xquad-en paragraphs.
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
mkdir -p "$data/qrels"
head -n "$EMBEVAL_ENCODE_TEXTS" ../shared/data/xquad-en/corpus.jsonl > "$data/corpus.jsonl"
bin=${CARGO_TARGET_DIR:-target}/release/embeval
for setting in "f32 auto" "bf16 eager" "bf16 auto"; do
    set -- $setting
    /usr/bin/time -f "{\"tool\": \"embeval encode\", \"dtype\": \"$1\", \"attention\": \"$2\", \"peak_kib\": %M, \"wall_s\": %e}" \
        "$bin" encode --data "$data" --model "$model" --shard 0/1 --out "$data/out-$1-$2" --no-cache -q \
        --dtype "$1" --attention "$2" > /dev/null
done
