#!/usr/bin/env bash
# The main job on the bundled demo: set up, build the CLI, compare models on demo/ (table on
# stdout, files in out/demo/), and build the browser page into www/dist/ (serve it to try it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
export CARGO_TARGET_DIR=${EMBEVAL_CACHE:-$HOME/.cache/embeval}/target
cargo build --release --quiet
"$CARGO_TARGET_DIR/release/embeval" eval --data demo \
    --model bm25 --model models/all-MiniLM-L6-v2 --model models/sre-embedding-model \
    --model models/all-mpnet-base-v2 \
    --failures 3 --details texts --out out/demo
scripts/build-web.sh
echo
echo "demo: the CLI is $CARGO_TARGET_DIR/release/embeval (cargo install --path . puts embeval on PATH);"
echo "demo: results in out/demo/; the page is built in www/dist/ — serve it with"
echo "      python3 -m http.server -d www/dist 8000   and open http://127.0.0.1:8000/"
