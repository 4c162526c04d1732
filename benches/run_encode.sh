#!/usr/bin/env bash
# Native CPU encoding: embeval (candle) vs sentence-transformers (PyTorch CPU), same texts
# (xquad-en paragraphs and questions), same threads, batch 32, one run. Prints both JSON lines.
#   pip install sentence-transformers ; scripts/fetch-models.sh
# Usage: benches/run_encode.sh [MODEL_DIR]   (default models/all-MiniLM-L6-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/all-MiniLM-L6-v2}
cargo bench --quiet --bench encode -- "$model" | grep '^{'
python3 benches/reference_encode.py "$model"
