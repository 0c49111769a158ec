#!/usr/bin/env bash
# run-optim-gpu.sh GPTC_BINARY: the GPU executors' optimizer step
# (runtime/device/optim_gpu.c) on the sim device against the ref optimizer
# (runtime/ref/optim.c), and sim's GEMM against double loops
# (tests/optim/test_optim_gpu.c says what is checked). No GPU.
#
# `GPTC compile models/tiny.yaml --no-compile` gives the kernels; its
# kernels_sim.cc and runtime/device/sim/cuda_emu.cc are compiled here (-O2, no FMA
# contraction, as tests/run-kernels.sh) and linked with the test and
# build/libgptc.a (make build/libgptc.a: the compiler, for the model build,
# and the runtime). -rdynamic: gpu_sim finds the kernels by name in the
# executable. Ends with "optim-gpu: N passed, N
# failed"; exits 1 if anything failed, 2 on bad usage.
. "$(dirname "$0")/lib.sh" optim-gpu "$@"

CXX=${CXX:-g++}
CC=${CC:-gcc}
out=build/optim-gpu
rm -rf "$out"
mkdir -p "$out"
BLAS_DIR=/usr/lib/$($CC -print-multiarch)/openblas-openmp
objs=build/libgptc.a

if ! "$bin" compile models/tiny.yaml --no-compile -o "$out/gen" >"$out/gen.log" 2>&1; then
    fail "gptc compile --no-compile models/tiny.yaml" "$(head -n 20 "$out/gen.log")"
    finish
fi
CXXFLAGS="-std=c++17 -O2 -g -Wall -Wextra -Werror -ffp-contract=off"
CFLAGS="-std=c11 -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -ffp-contract=off"
if ! { $CXX $CXXFLAGS -fno-strict-aliasing -Iruntime/device/sim -Itemplates -c "$out/gen/kernels_sim.cc" -o "$out/kernels_sim.o" &&
    $CXX $CXXFLAGS -Iruntime/device/sim -c runtime/device/sim/cuda_emu.cc -o "$out/cuda_emu.o" &&
    $CC $CFLAGS -fopenmp -I. -c tests/optim/test_optim_gpu.c \
        -o "$out/test_optim_gpu.o" &&
    $CXX -O2 -fopenmp -rdynamic -o "$out/test_optim_gpu" "$out/test_optim_gpu.o" "$out/kernels_sim.o" \
        "$out/cuda_emu.o" "$objs" -lyaml -lpcre2-8 -L"$BLAS_DIR" -Wl,-rpath,"$BLAS_DIR" -lopenblas -lm -ldl -lpthread; \
    } >"$out/build.log" 2>&1; then
    fail "build test_optim_gpu" "$(head -n 40 "$out/build.log")"
    finish
fi
pass "build test_optim_gpu (tiny.yaml's kernels on the emulator)"

OMP_NUM_THREADS=1 timeout -k 5 600 "$out/test_optim_gpu" models/tiny.yaml >"$out/run.out" 2>"$out/run.err"
rc=$?
while IFS= read -r line; do
    case $line in
        ok\ *) pass "${line#ok }" ;;
        FAIL\ *) fail "${line#FAIL }" ;;
    esac
done <"$out/run.out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out/run.out"; then
    fail "test_optim_gpu exited with status $rc" "$(head -n 20 "$out/run.err")"
elif [ -s "$out/run.err" ]; then
    fail "test_optim_gpu wrote to stderr" "$(head -n 20 "$out/run.err")"
fi
finish
