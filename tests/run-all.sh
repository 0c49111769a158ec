#!/usr/bin/env bash
# run-all.sh: what `make test` runs. Each suite prints its own closing line
# "NAME: N passed, N failed"; this script runs them all (a failing suite
# does not stop the others), then adds the tallies into one closing line,
# with the tests that said "skipped:" counted apart, never as passed.
set -u
cd "$(dirname "$0")/.." || exit 2
log=build/test.log
mkdir -p build
: > "$log"
status=0
closing='^[^ ]+( \([^)]*\))?: [0-9]+ passed, [0-9]+ failed'
# stopped NAME RC FILE: a suite that ended with status RC without its
# closing line (a crash, a sanitizer's abort) counts as one failure.
stopped() {
    [ "$2" -ne 0 ] && ! grep -qE "$closing" "$3" || return 0
    echo "$1: 0 passed, 1 failed (it stopped with status $2 before its closing line)" | tee -a "$log"
}
run() {
    echo "== $*" | tee -a "$log"
    local t=$SECONDS out rc
    out=$(mktemp)
    "$@" 2>&1 | tee -a "$log" "$out"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || status=1
    stopped "$1" "$rc" "$out"
    rm -f "$out"
    echo "   ($*: $((SECONDS - t))s)" | tee -a "$log"
}
# both SUITE... -- SUITE...: two suites that each keep one core busy, side
# by side (make test's machine has two cores); then their output in order.
both() {
    local a=() t=$SECONDS out1 out2 rc1 rc2
    while [ "$1" != -- ]; do a+=("$1"); shift; done
    shift
    out1=$(mktemp) out2=$(mktemp)
    "${a[@]}" > "$out1" 2>&1 &
    local p1=$!
    "$@" > "$out2" 2>&1
    rc2=$?
    wait $p1
    rc1=$?
    { echo "== ${a[*]}"; cat "$out1"; echo "== $*"; cat "$out2"; } | tee -a "$log"
    stopped "${a[0]}" $rc1 "$out1"
    stopped "$1" $rc2 "$out2"
    echo "   (${a[*]} and $*, side by side: $((SECONDS - t))s)" | tee -a "$log"
    [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] || status=1
    rm -f "$out1" "$out2"
}
# The plain unit tests keep one core busy for minutes (sim's emulated steps),
# the sanitized ones (without those) for under one: the plain ones in two
# halves side by side, then the sanitized ones.
both build/test_unit --shard 0/2 -- build/test_unit --shard 1/2
run build/asan/test_unit
run tests/run-bad.sh build/gptc
run tests/run-bad.sh build/asan/gptc
run tests/run-cli.sh build/gptc
run tests/run-cli.sh build/asan/gptc
run tests/run-bad-files.sh build/gptc
run tests/run-bad-files.sh build/asan/gptc
run tests/run-fuzz.sh
both tests/run-models.sh build/gptc -- tests/run-models.sh build/asan/gptc
run tests/run-docs.sh build/gptc
run tests/run-train.sh build/gptc
run tests/run-trainer.sh build/gptc
run tests/run-tune.sh build/gptc
run tests/run-study.sh build/gptc
run tests/run-analyze.sh build/gptc
run tests/run-ranks.sh build/gptc
run tests/run-compile.sh build/gptc
run tests/run-sim.sh
run tests/run-generated.sh build/gptc
run tests/run-kernels.sh build/gptc
both tests/run-torchref.sh build/gptc -- tests/run-optim-gpu.sh build/gptc
run tests/run-kernels.sh --gpu build/gptc tiny
run tests/run-cuda.sh build/gptc
tally() {
    grep -E "$closing" "$log" |
        sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' |
        awk -v col="$1" '{ s += $col } END { print s + 0 }'
}
passed=$(tally 1)
failed=$(tally 2)
skipped=$(grep -c 'skipped:' "$log")
[ "$failed" -eq 0 ] || status=1
echo "total: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
