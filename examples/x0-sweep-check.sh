#!/usr/bin/env bash
# x0-sweep-check.sh: the configurations of the extra-x0-embeddings study
# (docs/study.md), x00 (the baseline) to x04, for the tiny family (CPU scale)
# and the medium family (record 8 on 8 GPUs): one line per configuration
# with its parameter count and its training FLOPs per token, read from
# `gptc check --json`. Each trains with `gptc train FILE`; docs/study.md
# shows how to run the sweep and read its results.
#
# Usage: examples/x0-sweep-check.sh [GPTC]
#   GPTC: the gptc binary; default build/gptc, else gptc on the PATH.
#
# The FLOPs do not move with the number of tables: an input table is a
# lookup, not a matrix product, and the per-layer mix is elementwise work that
# the estimate leaves out. What an extra table costs is memory and memory
# traffic (10-20 s per table on a 24-minute run, in the study).
set -euo pipefail

gptc=${1:-}
case $gptc in
    */*) gptc=$(cd "$(dirname "$gptc")" 2>/dev/null && pwd)/$(basename "$gptc") ;; # survives the cd
esac
cd "$(dirname "$0")/.."
if [ -z "$gptc" ]; then
    if [ -x build/gptc ]; then gptc=build/gptc; else gptc=gptc; fi
fi
if ! command -v "$gptc" >/dev/null; then
    echo "x0-sweep-check: cannot run '${1:-gptc}'; build it with 'make build/gptc' or pass its path" >&2
    exit 2
fi

row() { printf '%-7s %-7s %-24s %13s %13s %15s\n' "$@"; }

row family config file parameters "vs x00" "FLOPs/token"
for family in tiny medium; do
    base=models/tiny.yaml
    [ "$family" = medium ] && base=models/r8-medium.yaml
    base_params=$("$gptc" check "$base" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["params"]["total"])')
    for k in 0 1 2 3 4; do
        file=$base
        [ "$k" -gt 0 ] && file=models/$family-x0$k.yaml
        json=$("$gptc" check "$file" --json)
        cells=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
params, flops = d["params"]["total"], int(d["flops_per_token"]["total"])
print(f"{params:,} +{params - int(sys.argv[2]):,} {flops:,}")' "$json" "$base_params")
        # shellcheck disable=SC2086  # three cells, split on purpose
        row "$family" "x0$k" "$file" $cells
    done
done
