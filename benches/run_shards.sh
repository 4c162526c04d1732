#!/usr/bin/env bash
# Memory of a streamed evaluation: wall time and peak resident memory of `embeval eval
# --doc-embeddings` over shard files of real-sized (1024-dim) vectors, with the default chunk
# (256 MiB of vectors read and searched at a time) and with CHUNK_ROWS rows at a time; each
# command runs ROUNDS times, interleaved; prints one JSON line per command with the medians and
# every run, and checks every run's per_query.jsonl is byte-identical to the first's.
# With JOB=encode, the same of the encode job that makes the shard (`embeval encode --shard 0/1`,
# the whole corpus in one job; the default part of 65,536 documents and CHUNK_ROWS at a time),
# checking every run wrote the same vectors (the manifest's checksum); SHARDS is then not read.
# Shards of N documents, from a one-layer 1024-wide random Qwen3 (cheap to encode on a CPU):
#   python3 benches/gpu/make_checkpoints.py CK qwen3-1layer     # needs torch + transformers
#   python3 benches/gpu/make_e2e_data.py E --docs N --queries 1000
#   embeval encode --data E --model CK/qwen3-1layer --max-length 16 --no-cache --shard 0/1 --out S -q
# Usage: benches/run_shards.sh E CK/qwen3-1layer S   (ROUNDS=3; CHUNK_ROWS=16384; JOB=eval|encode;
#   CHUNK_ROWS=0 leaves that command out; EMBEVAL_BIN=target/release/embeval; EMBEVAL_BEFORE=another
#   embeval binary, e.g. the previous commit's, run in the same rounds; COLD=1 empties the
#   kernel's page cache before every run, so the shard is read from disk as on its first reading
#   — needs root: it writes /proc/sys/vm/drop_caches)
set -euo pipefail
data=$1 model=$2 shards=${3:-}
job=${JOB:-eval}
rounds=${ROUNDS:-3}
chunk=${CHUNK_ROWS:-16384}
bin=${EMBEVAL_BIN:-${CARGO_TARGET_DIR:-target}/release/embeval}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -n ${COLD:-} && ! -w /proc/sys/vm/drop_caches ]]; then
    echo "COLD=1 empties the page cache through /proc/sys/vm/drop_caches, which this user cannot write (run as root)" >&2
    exit 2
fi

# run NAME BIN [VAR=VALUE]: appends "wall_s peak_kb" to $tmp/NAME; what it wrote (per_query.jsonl,
# or the shard's checksum) must equal the first run's.
run() {
    local name=$1 exe=$2 made cmd
    shift 2
    rm -rf "$tmp/out"
    if [[ $job == encode ]]; then
        cmd=(encode --shard 0/1 --data "$data" --model "$model" --max-length 16 --no-cache --quiet --out "$tmp/out")
    else
        cmd=(eval --data "$data" --model "$model" --max-length 16 --no-cache --doc-embeddings "$shards"
            --search cpu --quiet --out "$tmp/out")
    fi
    if [[ -n ${COLD:-} ]]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches
    fi
    env "$@" /usr/bin/time -f '%e %M' -o "$tmp/time" "$exe" "${cmd[@]}" >/dev/null 2>"$tmp/err" \
        || { cat "$tmp/err" >&2; exit 1; }
    cat "$tmp/time" >>"$tmp/$name"
    if [[ $job == encode ]]; then
        made=$tmp/made
        python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["checksum"])' \
            "$tmp/out/shard-0-of-1.json" >"$made"
    else
        made=$tmp/out/per_query.jsonl
    fi
    if [[ -f $tmp/first ]]; then
        cmp -s "$tmp/first" "$made" || { echo "$name: not what the first run wrote" >&2; exit 1; }
    else
        cp "$made" "$tmp/first"
    fi
}

names=(embeval-default)
[[ $chunk == 0 ]] || names+=("embeval-chunk-$chunk")
[[ -z ${EMBEVAL_BEFORE:-} ]] || names+=(embeval-before)
for _ in $(seq "$rounds"); do
    run embeval-default "$bin"
    [[ $chunk == 0 ]] || run "embeval-chunk-$chunk" "$bin" EMBEVAL_SHARD_CHUNK_ROWS="$chunk"
    if [[ -n ${EMBEVAL_BEFORE:-} ]]; then
        run embeval-before "$EMBEVAL_BEFORE"
    fi
done
docs=$(wc -l <"$data/corpus.jsonl")
for name in "${names[@]}"; do
    python3 - "$tmp/$name" "$name" "$docs" "$job" "${COLD:-}" <<'PY'
import json, statistics, sys
runs = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
print(json.dumps({"tool": sys.argv[2], "docs": int(sys.argv[3]), "job": sys.argv[4], "cold": sys.argv[5] != "",
                  "wall_s_median": statistics.median(r[0] for r in runs),
                  "peak_mib_median": round(statistics.median(r[1] for r in runs) / 1024),
                  "runs": [{"wall_s": r[0], "peak_mib": round(r[1] / 1024)} for r in runs]}))
PY
done
