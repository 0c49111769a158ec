#!/usr/bin/env bash
# run-sim.sh [--bench]: builds and runs the tests of the `sim` executor
# (runtime/device/sim/, templates/prims.cuh, tests/sim/) into build/sim/. No GPU.
#
#   - tests/sim/test_sim.cc with the test kernels (tests/sim/kernels/*.cu)
#     and the emulator, built three ways, each running every test: -O2;
#     -O1 with AddressSanitizer + UBSan (whose stderr must stay empty: no
#     false positives from the fiber stacks); and -O2 with the ucontext
#     context switch (-DGPTC_SIM_UCONTEXT) instead of the assembly one;
#   - the planted out-of-bounds write (test_sim --oob) in the ASan build, as
#     a process of its own: it must abort with an AddressSanitizer report
#     that names the kernel's source line;
#   - runtime/device/sim/sim.h compiled as C11 (the runtime's side of the boundary);
#   - every test kernel source compiled by NVRTC for sm_90a, mma.cu also with
#     the portable prims (-DGPTC_PRIMS_PORTABLE), printing each kernel's
#     registers and spills; skipped, with a message, without a CUDA toolkit
#     ($CUDA_HOME, default /usr/local/cuda), and under CI a failure
#     (tests/lib.sh's missing).
# Prints one line per result and ends with "sim: N passed, N failed"; exits 1
# if anything failed, 2 on bad usage. With --bench it builds the -O2 programs
# and prints the speed measurements (assembly and ucontext switches) instead.
# Needs bash, coreutils, g++ and gcc (C++17, C11); CXX and CC override them.
set -u

bench=
case $# in
    0) ;;
    1) [ "$1" = --bench ] && bench=1 ;;
esac
if [ $# -gt 1 ] || { [ $# -eq 1 ] && [ -z "$bench" ]; }; then
    echo "usage: $0 [--bench]" >&2
    exit 2
fi

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd) || exit 2
cd -- "$root" || exit 2
. tests/lib.sh --missing-only

CXX=${CXX:-g++}
CC=${CC:-gcc}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
out=build/sim
mkdir -p "$out/o2" "$out/asan" "$out/uctx" || exit 2

WARN="-std=c++17 -Wall -Wextra -Werror"
INC="-Iruntime/device/sim -Itemplates -Itests/sim"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
# CUDA code reinterprets pointers freely (float * as float4 *): the kernels'
# translation unit must not assume strict aliasing.
KFLAGS=-fno-strict-aliasing
have_cuda=

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    printf '%s\n' "$1"
}
# fail MESSAGE [FILE]: a failure, with the first lines of FILE below it.
fail() {
    failed=$((failed + 1))
    printf 'FAIL %s\n' "$1"
    if [ $# -ge 2 ] && [ -s "$2" ]; then
        head -n 40 -- "$2" | while IFS= read -r l; do printf '    | %s\n' "$l"; done
    fi
}

# ---- build: every compile in parallel, then the links -------------------------

jobs=()
declare -A broken=()
# job NAME COMMAND...: runs in the background, output in $out/NAME.log.
job() {
    local name=$1
    shift
    "$@" >"$out/$name.log" 2>&1 &
    jobs+=("$name:$!")
}
# Waits for every job; a failed one is reported with its log.
wait_jobs() {
    local j
    for j in "${jobs[@]}"; do
        if ! wait "${j#*:}"; then
            fail "build ${j%%:*}" "$out/${j%%:*}.log"
            broken[${j%%:*}]=1
        fi
    done
    jobs=()
}

# Nothing from an earlier run may stand in for a build that fails now.
rm -f $out/*/*.o $out/*/test_sim $out/nvrtc_check

job o2-emu $CXX $WARN -O2 -g $INC -c runtime/device/sim/cuda_emu.cc -o $out/o2/cuda_emu.o
job o2-kernels $CXX $WARN -O2 -g $KFLAGS $INC -c tests/sim/kernels_sim.cc -o $out/o2/kernels_sim.o
job o2-test $CXX $WARN -O2 -g $INC -c tests/sim/test_sim.cc -o $out/o2/test_sim.o
job uctx-emu $CXX $WARN -O2 -g -DGPTC_SIM_UCONTEXT $INC -c runtime/device/sim/cuda_emu.cc -o $out/uctx/cuda_emu.o
if [ -z "$bench" ]; then
    job asan-emu $CXX $WARN -O1 -g $SAN $INC -c runtime/device/sim/cuda_emu.cc -o $out/asan/cuda_emu.o
    job asan-kernels $CXX $WARN -O1 -g $SAN $KFLAGS $INC -c tests/sim/kernels_sim.cc -o $out/asan/kernels_sim.o
    job asan-test $CXX $WARN -O1 -g $SAN $INC -c tests/sim/test_sim.cc -o $out/asan/test_sim.o
    job sim-h-c11 $CC -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c runtime/device/sim/sim.h
    if [ -f "$CUDA_HOME/include/nvrtc.h" ] && [ -e "$CUDA_HOME/lib64/libnvrtc.so" ]; then
        have_cuda=1
        job nvrtc-check $CXX $WARN -O1 -I"$CUDA_HOME/include" tests/sim/nvrtc_check.cc -o $out/nvrtc_check \
            -L"$CUDA_HOME/lib64" -lnvrtc -Wl,-rpath,"$CUDA_HOME/lib64"
    fi
fi
wait_jobs

job o2-link $CXX -o $out/o2/test_sim $out/o2/test_sim.o $out/o2/kernels_sim.o $out/o2/cuda_emu.o
job uctx-link $CXX -o $out/uctx/test_sim $out/o2/test_sim.o $out/o2/kernels_sim.o $out/uctx/cuda_emu.o
[ -n "$bench" ] || job asan-link $CXX $SAN -o $out/asan/test_sim $out/asan/test_sim.o $out/asan/kernels_sim.o \
    $out/asan/cuda_emu.o
wait_jobs

if [ -n "$bench" ]; then
    [ "$failed" -eq 0 ] || exit 1
    echo "== assembly context switch (runtime/device/sim/cuda_emu.cc), $(nproc) cores"
    $out/o2/test_sim --bench || exit 1
    echo "== ucontext context switch (-DGPTC_SIM_UCONTEXT)"
    $out/uctx/test_sim --bench || exit 1
    exit 0
fi

# ---- run ----------------------------------------------------------------------------

# suite FLAVOUR: runs build/sim/FLAVOUR/test_sim; each "ok"/"FAIL" line it
# prints is a result; it must exit 0, in time, with nothing on stderr.
suite() {
    local flavour=$1 bin=$out/$1/test_sim
    [ -x "$bin" ] || return
    timeout -k 5 120 "$bin" >"$out/$flavour.out" 2>"$out/$flavour.err"
    local rc=$? line
    while IFS= read -r line; do
        case $line in
            ok\ *) pass "$flavour: $line" ;;
            FAIL\ *) fail "$flavour: ${line#FAIL }" ;;
        esac
    done <"$out/$flavour.out"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out/$flavour.out"; then
        fail "$flavour: test_sim exited with status $rc" "$out/$flavour.err"
    elif [ -s "$out/$flavour.err" ]; then
        fail "$flavour: test_sim wrote to stderr" "$out/$flavour.err"
    fi
}
suite o2
suite asan
suite uctx

# The planted out-of-bounds write: ASan must stop it and name the line.
oob_line=$(grep -n 'the planted out-of-bounds write' tests/sim/kernels/bugs.cu | cut -d: -f1)
if [ -x $out/asan/test_sim ]; then
    timeout -k 5 60 $out/asan/test_sim --oob >"$out/oob.out" 2>"$out/oob.err"
    rc=$?
    if [ $rc -ne 0 ] && grep -q 'ERROR: AddressSanitizer: heap-buffer-overflow' "$out/oob.err" &&
        grep -q "in oob_write tests/sim/kernels/bugs.cu:$oob_line" "$out/oob.err"; then
        pass "asan: ok oob_write caught at tests/sim/kernels/bugs.cu:$oob_line"
    else
        fail "asan: oob_write (status $rc): no AddressSanitizer report naming tests/sim/kernels/bugs.cu:$oob_line" \
            "$out/oob.err"
    fi
fi

[ -z "${broken[sim-h-c11]+x}" ] && pass "ok runtime/device/sim/sim.h compiles as C11"

if [ -z "$have_cuda" ]; then
    missing "no NVRTC at $CUDA_HOME, so no NVRTC compiles of the test kernels" \
        "install the CUDA toolkit or set CUDA_HOME"
elif [ -x $out/nvrtc_check ]; then
    # nvrtc FLAGS...: one result per "ok nvrtc"/"FAIL nvrtc" line.
    nvrtc() {
        local line
        while IFS= read -r line; do
            case $line in
                ok\ nvrtc\ *) pass "$line" ;;
                FAIL\ nvrtc\ *) fail "${line#FAIL }" ;;
                *) printf '%s\n' "$line" ;;
            esac
        done < <(timeout -k 5 120 $out/nvrtc_check "$@" 2>&1)
    }
    nvrtc tests/sim/kernels/*.cu
    nvrtc -DGPTC_PRIMS_PORTABLE tests/sim/kernels/mma.cu tests/sim/kernels/wgmma.cu
fi

echo "sim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
