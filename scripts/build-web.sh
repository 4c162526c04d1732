#!/usr/bin/env bash
# Builds the browser page's wasm module into www/pkg (git-ignored): cargo → wasm-opt → wasm-bindgen.
# Idempotent; run scripts/setup.sh once on a fresh machine. Serve www/ and open index.html.
#
# Also bundles models for the page: www/models/<name>/ gets the files a sentence-transformers
# folder needs from models/<name>/ (hard links where possible, git-ignored), and
# www/models/index.json lists them with their sizes and a revision (the page keeps them in
# Cache Storage under that revision, so they are downloaded once).
#
# www/demo/ gets the repository's demo/ dataset (the page's "Use the demo dataset" button fetches
# it), and www/dist/ the static site to deploy: the page, pkg/, models/, demo/ and sw.js, the
# service worker that keeps the page working offline (see README, "Deploying the page").
#
# Env: EMBEVAL_CACHE (default ~/.cache/embeval) keeps the target dir outside the clone so a
# machine that keeps it rebuilds warm; EMBEVAL_WEB_PROFILE=dist gives an LTO build (slower);
# EMBEVAL_WEB_MODELS (default all-MiniLM-L6-v2; space-separated folder names under
# $EMBEVAL_MODELS, default models/) picks the bundled models, "" bundles none.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${EMBEVAL_CACHE:-$HOME/.cache/embeval}
profile=${EMBEVAL_WEB_PROFILE:-release}
export CARGO_TARGET_DIR=$cache/target-wasm
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128"
export PATH=$HOME/.cargo/bin:$PATH   # wasm-bindgen from `cargo install`
mkdir -p "$CARGO_TARGET_DIR"

scripts/cargo-target.sh wasm32-unknown-unknown build --lib --profile "$profile" --no-default-features \
    --features gpu,models

raw=$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/embeval.wasm
wasm=$raw
# wasm-opt must run on cargo's output, before wasm-bindgen: binaryen 108 run afterwards breaks
# the externref table wasm-bindgen sets up.
if command -v wasm-opt >/dev/null; then
    wasm=$CARGO_TARGET_DIR/embeval.opt.wasm
    wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$raw" -o "$wasm"
else
    echo "build-web: wasm-opt not found (apt-get install binaryen); skipping -O3" >&2
fi

want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$want" != "$have" ]; then
    echo "build-web: wasm-bindgen CLI ${have:-missing} but Cargo.toml pins $want; run scripts/setup.sh" >&2
    exit 1
fi
rm -rf www/pkg
wasm-bindgen --target web --out-dir www/pkg --out-name embeval "$wasm"

size() { stat -c %s "$1"; }
echo "build-web: cargo $(size "$raw") B, wasm-opt $(size "$wasm") B," \
    "www/pkg/embeval_bg.wasm $(size www/pkg/embeval_bg.wasm) B ($(gzip -9c www/pkg/embeval_bg.wasm | wc -c) B gzipped)"

# ---- bundled models ----------------------------------------------------------------------------
models_dir=${EMBEVAL_MODELS:-models}
rm -rf www/models
mkdir -p www/models
entries=()
for name in ${EMBEVAL_WEB_MODELS-all-MiniLM-L6-v2}; do
    src=$models_dir/$name
    if [ ! -f "$src/config.json" ] || [ ! -f "$src/model.safetensors" ]; then
        echo "build-web: $src is missing (scripts/fetch-models.sh); the page will not offer $name" >&2
        continue
    fi
    # What Encoder::load reads: the folder's JSON files, the weights, and each module's config.
    files=()
    while IFS= read -r f; do files+=("$f"); done < <(cd "$src" && find . -maxdepth 2 -type f \
        \( -name '*.json' -o -name model.safetensors \) ! -path './onnx/*' ! -path './openvino/*' | sed 's|^\./||' | sort)
    listed=()
    for f in "${files[@]}"; do
        mkdir -p "www/models/$name/$(dirname "$f")"
        ln -f "$src/$f" "www/models/$name/$f" 2>/dev/null || cp "$src/$f" "www/models/$name/$f"
        listed+=("{\"path\": \"$f\", \"size\": $(size "$src/$f")}")
    done
    rev=$(cd "www/models/$name" && sha256sum "${files[@]}" | sha256sum | cut -c1-16)
    entries+=("{\"name\": \"$name\", \"rev\": \"$rev\", \"files\": [$(IFS=,; echo "${listed[*]}")]}")
    echo "build-web: bundled model $name (${#files[@]} files, rev $rev)"
done
echo "{\"models\": [$(IFS=,; echo "${entries[*]}")]}" > www/models/index.json

# ---- the demo dataset beside the page --------------------------------------------------------
# Hard links (git-ignored) where possible: `cp -l` links each file, copies where it cannot.
link_tree() { rm -rf "$2"; cp -rl "$1" "$2" 2>/dev/null || { rm -rf "$2"; cp -r "$1" "$2"; }; }
link_tree demo www/demo

# ---- www/dist: the static site ---------------------------------------------------------------
# Every top-level file of the page (a new module needs no change here), the module, the bundled
# models and the demo; nothing else, and only relative URLs, so any static host serves it under
# any path.
rm -rf www/dist
mkdir -p www/dist/pkg
for f in www/*; do
    case $f in
    www/sw.js) ;;       # written below
    www/report.html) ;; # the template of the CLI's report.html, compiled into the module
    *.html | *.js | *.css | *.svg | *.png | *.ico | *.webmanifest) cp "$f" www/dist/ ;;
    esac
done
cp www/pkg/embeval.js www/pkg/embeval_bg.wasm www/dist/pkg/
link_tree www/models www/dist/models
link_tree www/demo www/dist/demo
touch www/dist/.nojekyll # GitHub Pages: serve the files as they are, no Jekyll

# The service worker precaches everything the page loads except the bundled models' files, which
# worker.js keeps in its own cache when first used; its version hashes those files and sw.js, so
# each deploy that changes anything gets a fresh cache.
assets=()
while IFS= read -r f; do assets+=("$f"); done < <(cd www/dist && find . -type f ! -name sw.js ! -name .nojekyll \
    \( ! -path './models/*' -o -path ./models/index.json \) | sed 's|^\./||' | LC_ALL=C sort)
version=$({ (cd www/dist && sha256sum "${assets[@]}"); sha256sum < www/sw.js; } | sha256sum | cut -c1-16)
list=$(printf '"%s", ' "${assets[@]}")
sed "s|^const BUILD = null;|const BUILD = {\"version\": \"$version\", \"assets\": [${list%, }]};|" www/sw.js > www/dist/sw.js
grep -q "^const BUILD = {\"version\": \"$version\"" www/dist/sw.js || { echo "build-web: could not write www/dist/sw.js" >&2; exit 1; }
echo "build-web: www/dist ($(du -shL www/dist | cut -f1), ${#assets[@]} files precached, version $version)"
