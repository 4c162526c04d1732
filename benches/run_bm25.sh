#!/usr/bin/env bash
# BM25: embeval `--model bm25` vs bm25s (method "lucene", same k1/b, numba backend, all cores)
# on the same Japanese corpus, REPEATS runs of each, alternating; JSON lines, then medians.
#   data: benches/gpu/make_e2e_data.py DIR --docs DOCS --chars 200-600 (jsquad-valid's 1,145
#         paragraphs and its questions cycled to 10,000, then distractor windows of 200–600
#         characters of its text; made once, deterministic).
#   embeval: the whole `eval` run (read, tokenize, index, search top 100, metrics, reports);
#            wall clock and peak resident memory by GNU time.
#   bm25s: benches/reference_bm25.py (index and retrieve timed apart from the tokenizer, which
#          is a pure-Python port of embeval's).
# Usage: benches/run_bm25.sh [DOCS (100000)] [REPEATS (3)]
# Needs: pip install bm25s==0.3.16 numba numpy regex; GNU time (Debian `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-100000}
repeats=${2:-3}
py=${PYTHON:-python3}
data=${EMBEVAL_BENCH_DIR:-/tmp/embeval-bm25-$docs}
[ -f "$data/corpus.jsonl" ] || "$py" benches/gpu/make_e2e_data.py "$data" --docs "$docs" --chars 200-600 >&2
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/embeval
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq "$repeats"); do
    /usr/bin/time -f '%e %M' -o "$out/time" "$bin" eval --data "$data" --model bm25 --quiet --out "$out/r" >/dev/null
    read -r wall kb <"$out/time"
    "$py" - "$out/r/results.json" "$wall" "$kb" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["models"][0]["timings"]
print(json.dumps({"tool": "embeval", "wall_s": float(sys.argv[2]), "peak_rss_mib": round(int(sys.argv[3]) / 1024, 1),
                  "index_s": round(t["index_s"], 3), "search_s": round(t["search_s"], 3)}))
EOF
    "$py" benches/reference_bm25.py "$data"
done | tee "$out/lines"
"$py" - "$out/lines" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda tool, key: statistics.median(r[key] for r in rows if r["tool"] == tool)
e_wall, e_index, e_search = med("embeval", "wall_s"), med("embeval", "index_s"), med("embeval", "search_s")
b_index, b_ret, b_tok = med("bm25s", "index_s"), med("bm25s", "retrieve_s"), med("bm25s", "tokenize_s")
print(f"medians: embeval whole run {e_wall:.2f} s (load+tokenize+index {e_index:.2f} s, search {e_search:.2f} s), "
      f"{med('embeval', 'peak_rss_mib'):.0f} MiB")
print(f"         bm25s index {b_index:.2f} s + retrieve {b_ret:.2f} s (+ tokenizer port {b_tok:.2f} s), "
      f"{med('bm25s', 'peak_rss_mib'):.0f} MiB")
print(f"ratio: bm25s (index + retrieve, tokenizing left out) / embeval (whole run) = {(b_index + b_ret) / e_wall:.2f}x")
EOF
