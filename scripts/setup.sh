#!/usr/bin/env bash
# Everything embeval's build, demo and tests need on a fresh Debian 12 machine with only package
# registries; idempotent and quick when all is there. Needs rustup's cargo (stable) and Node.js 20.
#   - Mesa's lavapipe (mesa-vulkan-drivers): a software Vulkan GPU for the WGSL shader tests;
#   - the browser toolchain and test tools: scripts/setup-web.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for p in mesa-vulkan-drivers; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "setup: apt-get install ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
scripts/setup-web.sh
