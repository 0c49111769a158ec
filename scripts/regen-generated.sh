#!/usr/bin/env bash
# regen-generated.sh [GPTC_BINARY]: rewrites generated/ from models/: for
# every models/NAME.yaml, generated/NAME/ becomes exactly what
# `gptc compile models/NAME.yaml --no-compile` writes (kernels.cu, plan.h,
# kernels_sim.cc), and a generated/NAME/ whose model is gone is removed.
# tests/run-generated.sh fails until this has been run and the result
# committed, so that a reviewer sees every change in the emitted code.
#
# Each model is written to a scratch folder first and then swapped in, so
# that a file gptc no longer writes does not linger, and a failing model
# leaves its old folder alone. GPTC_BINARY defaults to build/gptc (make
# build/gptc). NVRTC is not needed.
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

tmp=$(mktemp -d generated.tmp.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p generated
for m in models/*.yaml; do
    name=$(basename "$m" .yaml)
    "$bin" compile "$m" --no-compile -o "$tmp/$name" >/dev/null
    rm -rf "generated/$name"
    mv "$tmp/$name" "generated/$name"
done
for d in generated/*/; do
    name=$(basename "$d")
    if [ ! -f "models/$name.yaml" ]; then
        echo "regen-generated: removed generated/$name (no models/$name.yaml)"
        rm -rf "generated/$name"
    fi
done
count=$(ls models/*.yaml | wc -l)
echo "regen-generated: generated/ holds the output of $count models;" \
    "review with 'git status generated' and 'git diff generated'"
