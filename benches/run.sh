#!/usr/bin/env bash
# Runs every benchmark in one go on this machine and prints the BENCHMARKS.md table:
# embeval's engine (cargo bench --bench engine) against pytrec_eval, ranx and numpy on the same
# synthetic files (benches/make_bench_data.py, seed 42). Takes ~15 min on 2 cores.
#   pip install pytrec-eval-terrier ranx numpy threadpoolctl
# Env: EMBEVAL_BENCH_DIR (default /tmp/embeval-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${EMBEVAL_BENCH_DIR:-/tmp/embeval-bench}
out=$dir/results.jsonl
[ -f "$dir/run.trec" ] && [ -f "$dir/d100k.npy" ] || python3 benches/make_bench_data.py "$dir"
: > "$out"
EMBEVAL_BENCH_DIR=$dir cargo bench --quiet --no-default-features --features cli --bench engine | tee -a "$out"
python3 benches/reference_metrics.py "$dir" | tee -a "$out"
python3 benches/reference_search.py "$dir" | tee -a "$out"
python3 benches/summarize.py "$out"
