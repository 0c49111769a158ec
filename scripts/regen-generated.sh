#!/usr/bin/env bash
# regen-generated.sh [GPTC_BINARY]: rewrites generated/ from models/
# (generated/README.md): every models/NAME.yaml through `gptc compile
# --no-compile`; the models listed in generated/FULL kept whole in
# generated/NAME/, every model's files hashed into generated/SHA256SUMS,
# and any other generated/NAME/ removed. tests/run-generated.sh fails until
# this has been run and the result committed, so that a reviewer sees
# every change in the emitted code.
#
# Each whole model is written to a scratch folder first and then swapped
# in, so that a file gptc no longer writes does not linger, and a failing
# model leaves its old folder alone. GPTC_BINARY defaults to build/gptc
# (make build/gptc). NVRTC is not needed.
set -euo pipefail
shopt -s nullglob

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build/gptc}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ $# -gt 1 ] || [ ! -x "$bin" ] || [ -d "$bin" ]; then
    echo "usage: $0 [GPTC_BINARY]   (default build/gptc; build it with 'make build/gptc')" >&2
    exit 2
fi
cd -- "$root"
. scripts/generated-lib.sh

tmp=$(mktemp -d generated.tmp.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
generate_all "$bin" "$tmp"
hashes "$tmp" > "$tmp/SHA256SUMS"
for m in models/*.yaml; do
    name=$(basename "$m" .yaml)
    rm -rf "generated/$name"
    if kept_whole "$name"; then mv "$tmp/$name" "generated/$name"; fi
done
for d in generated/*/; do
    name=$(basename "$d")
    kept_whole "$name" || { echo "regen-generated: removed generated/$name (not in generated/FULL)"; rm -rf "$d"; }
done
mv "$tmp/SHA256SUMS" generated/SHA256SUMS
echo "regen-generated: generated/ holds $(wc -l < generated/SHA256SUMS) file hashes of" \
    "$(ls models/*.yaml | wc -l) models and $(grep -vc '^#' generated/FULL) models whole;" \
    "review with 'git status generated' and 'git diff generated'"
