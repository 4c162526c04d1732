#!/usr/bin/env bash
# Start-up cost of a model on the CPU: wall time and peak memory of one whole process that loads
# the model and encodes one short document — `embeval encode` (the fast f32 path, then the candle
# graph with --attention eager) against a Python process that loads the same folder with
# sentence-transformers and encodes the same text. Each command runs ROUNDS times, interleaved;
# prints one JSON line per command with the median and every run.
#   pip install sentence-transformers ; cargo build --release
# Usage: benches/run_load.sh MODEL_DIR...   (ROUNDS=5; EMBEVAL_BIN=target/release/embeval;
#   EMBEVAL_BEFORE=another embeval binary, e.g. the previous commit's, run in the same rounds)
# A fresh --cache folder per run: the model's files are hashed (the cache key and the shard
# manifest) as on a first run, and nothing is read back. CACHED=1 measures a re-run instead:
# one untimed run fills the cache, and every timed embeval run finds its vectors there. COLD=1
# empties the kernel's page cache before every run (the model's files read from disk, as on a
# first run after a download or on a fresh machine; needs root: it writes
# /proc/sys/vm/drop_caches).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
bin=${EMBEVAL_BIN:-${CARGO_TARGET_DIR:-target}/release/embeval}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -n ${COLD:-} && ! -w /proc/sys/vm/drop_caches ]]; then
    echo "COLD=1 empties the page cache through /proc/sys/vm/drop_caches, which this user cannot write (run as root)" >&2
    exit 2
fi
mkdir -p "$tmp/data/qrels"
printf '{"_id":"d1","text":"hello world"}\n' >"$tmp/data/corpus.jsonl"
printf '{"_id":"q1","text":"hello"}\n' >"$tmp/data/queries.jsonl"
printf 'query-id\tcorpus-id\tscore\nq1\td1\t1\n' >"$tmp/data/qrels/test.tsv"
cat >"$tmp/st.py" <<'EOF'
import sys
from sentence_transformers import SentenceTransformer
SentenceTransformer(sys.argv[1], device="cpu").encode(["hello world"])
EOF

# run NAME CMD...: appends "wall_s peak_kb" to $tmp/NAME.
run() {
    local name=$1
    shift
    [[ -n ${CACHED:-} ]] || rm -rf "$tmp/cache"
    rm -rf "$tmp/out"
    if [[ -n ${COLD:-} ]]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches
    fi
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    cat "$tmp/time" >>"$tmp/$name"
}

for model in "$@"; do
    rm -rf "$tmp"/embeval* "$tmp"/sentence-transformers "$tmp/cache"
    if [[ -n ${CACHED:-} ]]; then
        "$bin" encode --data "$tmp/data" --model "$model" --shard 0/1 --out "$tmp/out" --cache "$tmp/cache" \
            >/dev/null 2>&1
    fi
    for _ in $(seq "$rounds"); do
        for attention in auto eager; do
            run "embeval-$attention" "$bin" encode --data "$tmp/data" --model "$model" --shard 0/1 \
                --out "$tmp/out" --cache "$tmp/cache" --attention "$attention"
        done
        if [[ -n ${EMBEVAL_BEFORE:-} ]]; then
            run embeval-before "$EMBEVAL_BEFORE" encode --data "$tmp/data" --model "$model" --shard 0/1 \
                --out "$tmp/out" --cache "$tmp/cache"
        fi
        run sentence-transformers python3 "$tmp/st.py" "$model"
    done
    for name in embeval-auto embeval-eager ${EMBEVAL_BEFORE:+embeval-before} sentence-transformers; do
        python3 - "$tmp/$name" "$name" "$model" <<'EOF'
import json, statistics, sys
runs = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
print(json.dumps({"tool": sys.argv[2], "model": sys.argv[3].rstrip("/").rsplit("/", 1)[-1],
                  "median_s": statistics.median(r[0] for r in runs),
                  "median_peak_mib": round(statistics.median(r[1] for r in runs) / 1024),
                  "runs_s": [r[0] for r in runs]}))
EOF
    done
done
