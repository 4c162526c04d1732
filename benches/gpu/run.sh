#!/usr/bin/env bash
# Big models on one NVIDIA GPU (issue 6): candle CUDA (embeval --features cuda) vs
# sentence-transformers (PyTorch) on the same GPU, texts and dtype, for a Qwen3-Embedding-0.6B-
# and a bge-m3 (XLM-RoBERTa large)-shaped checkpoint with random weights; then exact search of
# 10,000 queries over 1,000,000 × 1024-dim documents, embeval vs torch.topk(q @ d.T).
# One JSON line per measurement; the ratio is embeval tokens/s ÷ sentence-transformers tokens/s.
#
# Steps (default: all, in this order):
#   checks           the checkpoints' vectors on the GPU equal sentence-transformers' (f32 and
#                    bf16, worst cosine and max |diff| over the corpus)
#   oom              an out-of-memory batch halves and retries (another process holds all but
#                    6 GiB); 512 texts of ~2,700 tokens asked in one pass are batched under
#                    candle's 32-bit element counts
#   encode:MODEL     tokens/s per dtype, MODEL = qwen3-0.6b or xlmr-large
#   profile:MODEL    where embeval's time goes in bf16, phase by phase (EMBEVAL_PROFILE=1:
#                    the device synchronised around each phase; shares, not speed) — not in
#                    the default steps
#   search           exact top-100 at the end-to-end size: torch.topk(q @ d.T); embeval on the
#                    models' device through candle (cuBLAS, the path `--search gpu|auto` takes
#                    on a cuda build) and the WGSL shaders through wgpu/Vulkan
#   e2e              one whole evaluation at the issue's size, once per tool, Qwen3-shaped, bf16:
#                    10,000 queries and 1,000,000 documents (make_e2e_data.py: jsquad paragraphs
#                    and 10–30-character distractors) encoded, searched exactly (top 100) and
#                    scored — `embeval eval --search auto` vs reference.py e2e (sentence-
#                    transformers + torch.topk); wall-clock seconds from process start, and each
#                    phase. EMBEVAL_E2E_DOCS / EMBEVAL_E2E_QUERIES shrink it. Not in the default
#                    steps (~33M tokens a tool: about 12 minutes of GPU time for both)
#
# Needs: an NVIDIA GPU, python3 with torch (CUDA), transformers, sentence-transformers and
# safetensors; either cargo and the CUDA toolkit (nvcc) for candle's kernels, or binaries built
# elsewhere: EMBEVAL_BIN (embeval built with --features cuda) and EMBEVAL_SEARCH_BENCH (the
# `search_gpu` bench, `cargo bench --no-run --bench search_gpu`) — scripts/build-cuda.sh builds
# them and benches/gpu/pack.sh packs them for a machine without cargo. EMBEVAL_BENCH_DATA: the BEIR
# folder to encode (default ../shared/data/jsquad-valid, 1,145 Japanese paragraphs).
# EMBEVAL_BENCH_BATCH: texts per batch for both tools (32); EMBEVAL_BENCH_DTYPES ("bf16 f16 f32");
# EMBEVAL_BENCH_ATTENTION: embeval's --attention values to measure and check ("auto"; e.g.
# "auto eager" with a --features flash-attn build compares flash-attention with eager).
# `--tiny` dry-runs everything on the CPU with 2-layer models and a small search (checks the
# script, measures nothing of interest).
# Usage: benches/gpu/run.sh [OUT_DIR] [--tiny] [STEP ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/embeval-gpu-bench}
shift || true
tiny=
if [ "${1:-}" = --tiny ]; then tiny=--tiny; shift; fi
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(checks oom encode:qwen3-0.6b encode:xlmr-large search)
data=${EMBEVAL_BENCH_DATA:-../shared/data/jsquad-valid}
device=cuda features=(--features cuda) shape=10000x1000000x1024
e2e_docs=${EMBEVAL_E2E_DOCS:-1000000} e2e_queries=${EMBEVAL_E2E_QUERIES:-10000}
if [ "$tiny" = --tiny ]; then
    device=cpu features=() shape=100x10000x1024
    e2e_docs=${EMBEVAL_E2E_DOCS:-5000} e2e_queries=${EMBEVAL_E2E_QUERIES:-200}
fi
bin=${EMBEVAL_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release "${features[@]}" >&2
    bin=${CARGO_TARGET_DIR:-target}/release/embeval
fi
[ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
for m in qwen3-0.6b xlmr-large; do
    [ -f "$out/models/$m/modules.json" ] || python3 benches/gpu/make_checkpoints.py "$out/models" $tiny $m >&2
done

checks() {
    for model in qwen3-0.6b xlmr-large; do
        for dtype in f32 bf16; do
            for attention in ${EMBEVAL_BENCH_ATTENTION:-auto}; do
                rm -rf "$out/shard"
                "$bin" encode --data "$data" --model "$out/models/$model" --device "$device" --dtype "$dtype" \
                    --attention "$attention" --shard 0/1 --out "$out/shard" --no-cache --quiet >&2
                python3 benches/gpu/reference.py parity "$out/models/$model" "$data" \
                    "$out/shard/shard-0-of-1.safetensors" --device "$device" --dtype "$dtype" --label "attention $attention"
            done
        done
    done
}

oom() {
    # GPU only: on the CPU the allocator aborts the process instead of failing an allocation.
    [ "$device" = cuda ] || return 0
    summary() {
        python3 - "$1" "$2" <<'EOF'
import json, sys
s = json.load(open(sys.argv[2]))["models"][0]["search"]
t = s["throughput"]["docs"]
print(json.dumps({"check": sys.argv[1], "device": s["encoder"]["device"], "texts": t["texts"], "tokens": t["tokens"],
                  "oom_retries": t.get("oom_retries", 0), "final_max_batch_tokens": t.get("max_batch_tokens"),
                  "seconds": t["seconds"]}))
EOF
    }
    # Out of memory on purpose: another process holds all but 6 GiB of the GPU and embeval is
    # told to put 512 texts in a pass (a token budget far above what fits), Qwen3-shaped, bf16:
    # the batch must halve until it fits.
    rm -f "$out/held"
    python3 -c "import torch, time; free, _ = torch.cuda.mem_get_info(); x = torch.empty(free - 6 * 2**30, dtype=torch.uint8, device='cuda'); open('$out/held', 'w').close(); time.sleep(900)" &
    local hog=$!
    while [ ! -f "$out/held" ]; do sleep 0.5; done
    "$bin" eval --data "$data" --model "$out/models/qwen3-0.6b" --device "$device" --dtype bf16 \
        --batch-size 512 --max-batch-tokens 100000000 --no-cache --search cpu --quiet --out "$out/oom" >/dev/null
    kill $hog; wait $hog 2>/dev/null || true
    summary "out of memory (6 GiB free): the batch halves and retries" "$out/oom/results.json"
    # Long texts, many at once: 512 texts of ~10 paragraphs (~2,700 tokens) with the budget far
    # above what fits: attention scores past 2^32 elements unless the batch is capped.
    python3 - "$data" "$out/long" <<'EOF'
import json, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
docs = [json.loads(l) for l in open(os.path.join(src, "corpus.jsonl"), encoding="utf-8") if l.strip()]
with open(os.path.join(dst, "corpus.jsonl"), "w", encoding="utf-8") as f:
    for i, d in enumerate(docs):
        text = " ".join(docs[(i + j) % len(docs)]["text"] for j in range(10)) if i < 512 else d["text"]
        f.write(json.dumps({"_id": d["_id"], "title": d.get("title", ""), "text": text}, ensure_ascii=False) + "\n")
shutil.copy(os.path.join(src, "queries.jsonl"), dst)
shutil.copytree(os.path.join(src, "qrels"), os.path.join(dst, "qrels"), dirs_exist_ok=True)
EOF
    "$bin" eval --data "$out/long" --model "$out/models/qwen3-0.6b" --device "$device" --dtype bf16 \
        --batch-size 512 --max-batch-tokens 100000000 --max-length 4096 --no-cache --search cpu --quiet \
        --out "$out/long-run" >/dev/null
    summary "512 long texts in one pass asked: batches capped under 2^31 elements" "$out/long-run/results.json"
}

encode() {
    local model=$1
    local batch=${EMBEVAL_BENCH_BATCH:-32}
    for dtype in ${EMBEVAL_BENCH_DTYPES:-bf16 f16 f32}; do
        python3 benches/gpu/reference.py encode "$out/models/$model" "$data" --device "$device" --dtype "$dtype" \
            --batch "$batch"
        # Batches of $batch texts as sentence-transformers (a token budget that never binds),
        # then with the token budget from the GPU's free memory.
        for attention in ${EMBEVAL_BENCH_ATTENTION:-auto}; do
        for budget in 100000000 auto; do
            flag=(--max-batch-tokens "$budget")
            [ "$budget" = auto ] && flag=()
            for i in 1 2 3; do
                "$bin" eval --data "$data" --model "$out/models/$model" --device "$device" --dtype "$dtype" \
                    --attention "$attention" --batch-size "$batch" "${flag[@]}" --no-cache --search cpu --quiet \
                    --out "$out/run" >/dev/null
                cp "$out/run/results.json" "$out/run/results-$i.json"
            done
            python3 - "$model" "$dtype" "$budget" "$batch" "$out"/run/results-{1,2,3}.json <<'EOF'
import json, statistics, sys
model, dtype, budget, batch, files = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
docs = [json.load(open(f))["models"][0]["search"] for f in files]
t = [d["throughput"]["docs"] for d in docs]
m = statistics.median(x["seconds"] for x in t)
print(json.dumps({"tool": "embeval", "model": model, "dtype": dtype, "device": docs[0]["encoder"]["device"],
                  "attention": docs[0]["encoder"]["attention"], "batch_size": batch,
                  "max_batch_tokens": budget if budget != "auto" else f"auto ({t[0].get('max_batch_tokens')})",
                  "texts": t[0]["texts"], "tokens": t[0]["tokens"],
                  "median_s": m, "tokens_per_s": t[0]["tokens"] / m, "texts_per_s": t[0]["texts"] / m,
                  "oom_retries": max(x.get("oom_retries", 0) for x in t), "runs": [x["seconds"] for x in t]}))
EOF
        done
        done
    done
}

profile() {
    local attention=${EMBEVAL_BENCH_ATTENTION:-auto}
    EMBEVAL_PROFILE=1 "$bin" eval --data "$data" --model "$out/models/$1" --device "$device" --dtype bf16 \
        --attention "${attention%% *}" \
        --batch-size "${EMBEVAL_BENCH_BATCH:-32}" --max-batch-tokens 100000000 --no-cache --search cpu --quiet \
        --out "$out/profile" 2>&1 >/dev/null | grep -A12 '^profile of encoding'
}

search() {
    # Encoding 1M documents takes their token count ÷ the tokens/s above; this is the search.
    python3 benches/gpu/reference.py search ${shape//x/ } --device "$device"
    if [ -n "${EMBEVAL_SEARCH_BENCH:-}" ]; then
        EMBEVAL_BENCH_SHAPE=$shape EMBEVAL_BENCH_PATH=gpu,device "$EMBEVAL_SEARCH_BENCH" | grep '^{'
    else
        EMBEVAL_BENCH_SHAPE=$shape EMBEVAL_BENCH_PATH=gpu,device cargo bench --quiet --bench search_gpu | grep '^{'
    fi
}

e2e() {
    # Built from the same BEIR folder as the other steps (EMBEVAL_BENCH_DATA): on a lent GPU
    # machine ../shared is not there, a carried copy is.
    local source=$data
    local data="$out/e2e-data-${e2e_docs}x${e2e_queries}" model="$out/models/qwen3-0.6b"
    [ -f "$data/qrels/test.tsv" ] || python3 benches/gpu/make_e2e_data.py "$data" --docs "$e2e_docs" \
        --queries "$e2e_queries" --source "$source"
    python3 benches/gpu/reference.py e2e "$model" "$data" --device "$device" --dtype bf16 --batch 32
    local start end
    start=$(date +%s.%N)
    "$bin" eval --data "$data" --model "$model" --device "$device" --dtype bf16 --batch-size 32 --search auto \
        --no-cache --quiet --out "$out/e2e-run" >/dev/null
    end=$(date +%s.%N)
    python3 - "$start" "$end" "$out/e2e-run/results.json" <<'EOF'
import json, sys
start, end, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
r = json.load(open(path))
m = r["models"][0]
s, t = m["search"], m["timings"]
print(json.dumps({"tool": "embeval", "what": "e2e", "model": "qwen3-0.6b", "dtype": "bf16",
                  "device": s["encoder"]["device"], "attention": s["encoder"]["attention"], "search": s["path"],
                  "queries": m["num_queries"], "docs": s["throughput"]["docs"]["texts"],
                  "doc_tokens": s["throughput"]["docs"]["tokens"], "batch_size": 32, "total_s": end - start,
                  "encode_queries_s": s["throughput"]["queries"]["seconds"],
                  "encode_docs_s": s["throughput"]["docs"]["seconds"], "index_s": t["index_s"],
                  "search_s": t["search_s"], "metrics_s": t["metrics_s"], "ndcg@10": m["metrics"]["ndcg@10"]}))
EOF
}

for step in "${steps[@]}"; do
    case $step in
        checks) checks ;;
        oom) oom ;;
        encode:*) encode "${step#encode:}" ;;
        profile:*) profile "${step#profile:}" ;;
        search) search ;;
        e2e) e2e ;;
        *) echo "unknown step '$step': checks, oom, encode:MODEL, profile:MODEL (MODEL: qwen3-0.6b, xlmr-large), search or e2e" >&2; exit 2 ;;
    esac
done
