#!/usr/bin/env bash
# Big models on one NVIDIA GPU (issue 6): candle CUDA (embeval --features cuda) vs
# sentence-transformers (PyTorch) on the same GPU, texts and dtype, for a Qwen3-Embedding-0.6B-
# and a bge-m3 (XLM-RoBERTa large)-shaped checkpoint with random weights; then exact search of
# 10,000 queries over 1,000,000 × 1024-dim documents, embeval vs torch.topk(q @ d.T).
# One JSON line per measurement; the ratio is embeval tokens/s ÷ sentence-transformers tokens/s.
#
# Needs: an NVIDIA GPU, the CUDA toolkit (nvcc) for candle's kernels, python3 with torch (CUDA),
# transformers and sentence-transformers. `--tiny` dry-runs everything on the CPU with 2-layer
# models and a small search (checks the script, measures nothing of interest).
# Usage: benches/gpu/run.sh [OUT_DIR] [--tiny]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/embeval-gpu-bench}
tiny=${2:-}
data=../shared/data/jsquad-valid   # 1,145 Japanese paragraphs
device=cuda features=(--features cuda) shape=10000x1000000x1024
if [ "$tiny" = --tiny ]; then
    device=cpu features=() shape=100x10000x1024
fi
python3 benches/gpu/make_checkpoints.py "$out/models" $tiny >&2
cargo build --release "${features[@]}" >&2
bin=${CARGO_TARGET_DIR:-target}/release/embeval
[ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2

for model in qwen3-0.6b xlmr-large; do
    for dtype in bf16 f16 f32; do
        python3 benches/gpu/reference.py encode "$out/models/$model" "$data" --device "$device" --dtype "$dtype"
        # Batches of 32 texts as sentence-transformers (a token budget that never binds), then
        # embeval's own batching (token budget from the GPU's free memory).
        for budget in 100000000 auto; do
            flag=(--max-batch-tokens "$budget")
            [ "$budget" = auto ] && flag=()
            for i in 1 2 3; do
                "$bin" eval --data "$data" --model "$out/models/$model" --device "$device" --dtype "$dtype" \
                    --batch-size 32 "${flag[@]}" --no-cache --search cpu --quiet --out "$out/run" >/dev/null
                cp "$out/run/results.json" "$out/run/results-$i.json"
            done
            python3 - "$model" "$dtype" "$budget" "$out"/run/results-{1,2,3}.json <<'EOF'
import json, statistics, sys
model, dtype, budget, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
docs = [json.load(open(f))["models"][0]["search"] for f in files]
t = [d["throughput"]["docs"] for d in docs]
m = statistics.median(x["seconds"] for x in t)
print(json.dumps({"tool": "embeval", "model": model, "dtype": dtype, "device": docs[0]["encoder"]["device"],
                  "max_batch_tokens": budget, "texts": t[0]["texts"], "tokens": t[0]["tokens"],
                  "median_s": m, "tokens_per_s": t[0]["tokens"] / m, "texts_per_s": t[0]["texts"] / m,
                  "oom_retries": max(x["oom_retries"] for x in t), "runs": [x["seconds"] for x in t]}))
EOF
        done
    done
done

# Exact search at the end-to-end size (encoding 1M documents is the tokens/s above × their length).
python3 benches/gpu/reference.py search ${shape//x/ } --device "$device"
EMBEVAL_BENCH_SHAPE=$shape cargo bench --quiet --bench search_gpu "${features[@]}" | grep '^{'
