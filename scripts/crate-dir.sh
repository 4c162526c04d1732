#!/usr/bin/env bash
# Prints the source folder cargo resolved for dependency CRATE with FEATURES enabled (fetching it
# if needed), for scripts that read a dependency's own files (build-cuda.sh, check-builds.sh).
# Usage: scripts/crate-dir.sh CRATE FEATURES
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --features "$2" | python3 -c '
import json, os, sys
name = sys.argv[1]
print(os.path.dirname(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == name)))' "$1"
