#!/usr/bin/env bash
# bench-compile.sh GPTC_BINARY: how long `gptc compile` takes on the record
# model r10-medium-x01 for sm_90a and sm_80, cold (an empty compile cache:
# NVRTC runs) and warm (every CUBIN from the cache), 3 runs each, measured
# side by side in this run. Prints the times and their ratio; asserts
# nothing. Without NVRTC it says so and exits 0.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 GPTC_BINARY" >&2
    exit 2
fi
bin=$1
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
cd "$(dirname "$0")/.." || exit 2
model=models/r10-medium-x01.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run CACHE_DIR: one compile; prints its wall time in seconds.
run() {
    local t0 t1
    t0=$(date +%s.%N)
    if ! GPTC_CACHE_DIR=$1 "$bin" compile "$model" -o "$tmp/out" >"$tmp/log" 2>&1; then
        return 1
    fi
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

cold=() warm=()
for i in 1 2 3; do
    if ! c=$(run "$tmp/cache$i"); then
        echo "bench compile: skipped: $(head -1 "$tmp/log")"
        exit 0
    fi
    cold+=("$c")
    warm+=("$(run "$tmp/cache$i")")
done
nvrtc=$(grep -o 'NVRTC [0-9.]*' "$tmp/log")
c=$(median "${cold[@]}")
w=$(median "${warm[@]}")
echo "bench compile $model (sm_90a + sm_80, $nvrtc, $(nproc) cores):"
echo "  cold (NVRTC)     ${cold[*]} s, median $c s"
echo "  warm (cache)     ${warm[*]} s, median $w s"
awk -v c="$c" -v w="$w" 'BEGIN { printf "  cold / warm      %.0fx\n", c / w }'
