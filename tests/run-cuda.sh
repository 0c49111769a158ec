#!/usr/bin/env bash
# run-cuda.sh GPTC: the cuda code on any machine, GPU or not.
#   - the driver loader (runtime/device/cuda/cuda_drv.c) against a fake libcuda
#     (tests/cuda/fake_libcuda.c, through GPTC_CUDA_LIB): a missing library,
#     one that is no driver, a driver without an entry point, cuInit
#     failing, no device; and gpu_cuda_open failing cleanly with the call
#     and the CUresult's name when a context cannot be made;
#   - gptc train's backend choice: --backend auto says which and why, and
#     trains; --backend cuda without a GPU is an exit-2 error naming why;
#   - --gpus N: an exit-2 error naming why without N GPUs or with --backend
#     ref; with N (fake) GPUs, N ranks start, each fails to open its GPU,
#     and all end with status 2, none left behind;
#   - gptc tune --backend cuda and train --db on a fake GPU: validators read
#     from the device, a bench that cannot open it, a database refused;
#   - cuBLASLt loads where the CUDA toolkit is;
#   - NCCL's loader (runtime/device/cuda/nccl_comm.c): a missing library and one that is
#     not NCCL are errors naming them, also from devcomm_nccl; the toolkit's
#     libnccl.so.2 loads with every entry point;
#     the DevComm against a fake NCCL (tests/cuda/fake_libnccl.c) and the
#     fake driver: the calls it makes, and a communicator that never comes
#     up, fails, or whose collectives never finish or fail, each ending in
#     ncclCommAbort with "NCCL: rank 0 of 1: ..." within the deadline.
#     Its GPU test is tests/unit/test_nccl.c (GPTC_TEST_DEVICE=cuda).
# None of this needs a GPU, but the toolkit's libraries and the GPU mode's
# program must be there: where one is not, its checks say "skipped:" and,
# under CI, fail (tests/lib.sh's missing).
# The GPU mode of tests/kernels is tests/run-kernels.sh --gpu.
. "$(dirname "$0")/lib.sh" cuda "$@"

CC=${CC:-gcc}
fake=$tmp/libfakecuda.so
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
if ! $CC -std=c11 -Wall -Wextra -Werror -isystem "$CUDA_INC" -shared -fPIC -o "$fake" \
    tests/cuda/fake_libcuda.c >"$tmp/fake.log" 2>&1; then
    fail "the fake driver builds" "$(cat "$tmp/fake.log")"
fi

# Any model does for the backend choice: it is made before data is read.
model=models/tiny.yaml
train() { "$bin" train "$model" --no-progress --run-dir "$tmp/run" "$@"; }

expect 2 "--backend cuda, driver library missing: exit 2 naming it" \
    "--backend cuda: no GPU: $tmp/none.so not found (from GPTC_CUDA_LIB)" -- \
    env GPTC_CUDA_LIB="$tmp/none.so" "$bin" train "$model" --backend cuda --run-dir "$tmp/run"
expect 2 "--backend cuda, a library that is no driver" \
    "no GPU: the NVIDIA driver is too old: it has no cuGetProcAddress_v2" -- \
    env GPTC_CUDA_LIB=libm.so.6 "$bin" train "$model" --backend cuda --run-dir "$tmp/run"
expect 2 "--backend cuda, a driver without cuLaunchKernel" \
    "no GPU: the NVIDIA driver (version 13.0) has no cuLaunchKernel" -- \
    env GPTC_CUDA_LIB="$fake" FAKE_CUDA_MISSING=cuLaunchKernel "$bin" train "$model" --backend cuda
expect 2 "--backend cuda, cuInit failing" "no GPU: cuInit failed: CUDA_ERROR_NO_DEVICE" -- \
    env GPTC_CUDA_LIB="$fake" FAKE_CUDA_INIT=FAIL "$bin" train "$model" --backend cuda
expect 2 "--backend cuda, a driver with no device" "no GPU: the driver sees no device" -- \
    env GPTC_CUDA_LIB="$fake" "$bin" train "$model" --backend cuda
expect 2 "--backend auto, no GPU: ref, saying why" "backend: ref (no GPU: the driver sees no device)" -- \
    env GPTC_CUDA_LIB="$fake" "$bin" train "$model" --run-dir "$tmp/run" --set "train.data.train=$tmp/no_*.bin"
expect 2 "--backend auto, a GPU: cuda, saying so" "backend: cuda (auto: 1 GPU found)" -- \
    env GPTC_CUDA_LIB="$fake" FAKE_CUDA_DEVICES=1 "$bin" train "$model" --run-dir "$tmp/run" \
    --set "train.data.train=$tmp/no_*.bin"

expect 2 "--gpus 2, no GPU: exit 2 naming why" "--gpus 2: no GPU: the driver sees no device" -- \
    env GPTC_CUDA_LIB="$fake" "$bin" train "$model" --gpus 2 --run-dir "$tmp/run"
expect 2 "--gpus 2, one GPU: exit 2" "--gpus 2: the driver sees only 1 GPU" -- \
    env GPTC_CUDA_LIB="$fake" FAKE_CUDA_DEVICES=1 "$bin" train "$model" --gpus 2 --run-dir "$tmp/run"
expect 2 "--gpus 2 --backend ref: exit 2" "--gpus 2 runs the cuda executor, not --backend ref" -- \
    "$bin" train "$model" --gpus 2 --backend ref --run-dir "$tmp/run"

# gptc tune and --db on a (fake) GPU: the validators come from the device,
# read without a context; a bench that cannot open the GPU fails cleanly and
# writes no database; a database tuned elsewhere is refused, naming the GPU.
expect 1 "gptc tune --backend cuda on a GPU that cannot be opened: exit 1 naming the call" \
    "gptc tune: cuda: cuDevicePrimaryCtxRetain: CUDA_ERROR_OUT_OF_MEMORY" -- env GPTC_CUDA_LIB="$fake" \
    FAKE_CUDA_DEVICES=1 "$bin" tune "$model" --backend cuda --only rmsnorm --db "$tmp/tune.db"
[ ! -e "$tmp/tune.db" ] && pass "... and writes no database" || fail "a failed tuning wrote $tmp/tune.db"
printf 'gptc-tune 1\nvalidator gptc %s\nvalidator device sim cost model\n' \
    "$("$bin" --version | sed -n 's/^gptc \([^ ]*\).*/\1/p')" >"$tmp/sim.db"
expect 2 "gptc train --db on a GPU refuses a database tuned on sim, naming the GPU" \
    "was tuned for device sim cost model; here it is Fake GPU: tune again" -- env GPTC_CUDA_LIB="$fake" \
    FAKE_CUDA_DEVICES=1 "$bin" train "$model" --backend cuda --db "$tmp/sim.db" --run-dir "$tmp/run"

# What this machine has: the choice is printed either way, and a run trains.
head -c 200000 data/demo/corpus.txt >"$tmp/text.txt"
if "$bin" data "$tmp/text.txt" -o "$tmp/data" --name t --paragraphs --val-fraction 0.1 >"$tmp/data.out" 2>&1; then
    expect 0 "--backend auto (the default) trains, on: $(
        "$bin" train "$model" --run-dir "$tmp/probe" --set "train.data.train=$tmp/no_*.bin" 2>&1 |
            sed -n 's/^gptc train: backend: //p'
    )" "done at step 2" -- \
        "$bin" train tests/train/micro.yaml --no-progress --threads 2 --run-dir "$tmp/auto" --steps 2 \
        --set "train.data.train=$tmp/data/t_train_*.bin" --set "train.data.val=$tmp/data/t_val_*.bin"
    grep -qE '^gptc train: backend: (ref|cuda) \(.+\)$' "$tmp/out" &&
        pass "the run's first line says which backend and why" ||
        fail "no 'gptc train: backend: NAME (why)' line" "$(head -n 3 "$tmp/out")"
    # The fake devices have no memory: every rank fails to open its GPU.
    expect 2 "--gpus 2, two GPUs without memory: both ranks stop with status 2" \
        "rank 1: cuDevicePrimaryCtxRetain: CUDA_ERROR_OUT_OF_MEMORY" -- \
        env GPTC_CUDA_LIB="$fake" FAKE_CUDA_DEVICES=2 "$bin" train tests/train/micro.yaml --no-progress \
        --gpus 2 --run-dir "$tmp/gpus2" --set train.ranks=2 --set train.val.tokens=128 \
        --set train.val.tokens_per_rank=64 \
        --set "train.data.train=$tmp/data/t_train_*.bin" --set "train.data.val=$tmp/data/t_val_*.bin"
    left=$(pgrep -f -- "--run-dir $tmp/gpus2 " | tr '\n' ' ')
    [ -z "$left" ] && pass "--gpus 2: no process left behind" ||
        fail "--gpus 2: processes left behind: $left"
else
    fail "gptc data for the training run" "$(cat "$tmp/data.out")"
fi

# gpu_cuda_open through the GPU mode of tests/kernels: a device the fake
# driver describes, whose context cannot be made. Needs that program
# (tests/run-kernels.sh --gpu builds it; make test runs that afterwards).
exe=build/kernels-gpu/gpu/tiny
if [ -x "$exe" ]; then
    expect 1 "gpu_cuda_open fails cleanly, naming the call and the CUresult" \
        "opening the GPU: cuDevicePrimaryCtxRetain: CUDA_ERROR_OUT_OF_MEMORY" -- \
        env GPTC_CUDA_LIB="$fake" FAKE_CUDA_DEVICES=1 "$exe" tiny
    expect 0 "the GPU mode of tests/kernels without a GPU: skipped, exit 0" "skipped: tiny: GPU mode (no GPU: " -- \
        env GPTC_CUDA_LIB="$fake" "$exe" tiny
else
    missing "no $exe, so no check of gpu_cuda_open's failure path" \
        "tests/run-kernels.sh --gpu $bin tiny builds it; make test runs that first"
fi

# cuBLASLt: found and complete wherever the toolkit is.
if [ -e "${CUDA_HOME:-/usr/local/cuda}/lib64/libcublasLt.so.13" ]; then
    cat >"$tmp/lt.c" <<'EOF'
#include <stdio.h>
#include "runtime/device/cuda/cublaslt.h"
int main(void) {
    char why[2048];
    if (!cublaslt_load(why, sizeof why)) return puts(why), 1;
    printf("cuBLASLt %zu\n", cublaslt_version());
    return 0;
}
EOF
    ldlibs=${GPU_LDLIBS:-$(make -s --no-print-directory print-ldlibs)}
    # shellcheck disable=SC2086 # ldlibs is a list of flags
    if $CC -std=c11 -I. -isystem "$CUDA_INC" -o "$tmp/lt" "$tmp/lt.c" build/libgptc.a \
        $ldlibs -fopenmp >"$tmp/lt.log" 2>&1; then
        expect 0 "cuBLASLt loads with every entry point gptc uses" "cuBLASLt 1" -- "$tmp/lt"
        expect 1 "a missing cuBLASLt is an error naming the path" "cuBLASLt not found (tried $tmp/none.so)" -- \
            env GPTC_CUBLASLT_LIB="$tmp/none.so" "$tmp/lt"
    else
        fail "a program using cublaslt.h builds" "$(tail -n 8 "$tmp/lt.log")"
    fi
else
    missing "no cuBLASLt at ${CUDA_HOME:-/usr/local/cuda}/lib64" "install the CUDA toolkit or set CUDA_HOME"
fi

# NCCL: the loader needs no GPU; devcomm_nccl says why it cannot start.
cat >"$tmp/nccl.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/dist/coll.h"
#include "runtime/device/cuda/nccl_comm.h"
int main(int argc, char **argv) {
    char msg[1200];
    if (argc > 1 && !strcmp(argv[1], "devcomm")) {
        Coll *coll = coll_open(10, msg, sizeof msg);
        if (!coll) return puts(msg), 1;
        Gpu sim = {.name = "sim"};
        DevComm *c = devcomm_nccl(&sim, coll, 0, 10, msg, sizeof msg);
        puts(c ? "devcomm_nccl accepted a sim Gpu" : msg);
        coll_close(coll);
        return 1;
    }
    if (argc > 1 && !strcmp(argv[1], "fake")) {
        Coll *coll = coll_open(10, msg, sizeof msg);
        if (!coll) return puts(msg), 1;
        /* Named cuda, with null handles: the fake driver takes any. */
        Gpu g = {.name = "cuda", .impl = calloc(1, 1 << 20)};
        DevComm *c = devcomm_nccl(&g, coll, 0, 1, msg, sizeof msg);
        int rc = c ? c->sum_f32(c, &g, (float *)256, 1000, 0.5f) : -1;
        if (rc == 0) rc = c->bcast(c, &g, (void *)512, 7, 0);
        if (rc == 0) rc = c->wait(c, &g);
        puts(rc == 0 ? "collectives done" : c ? c->err : msg);
        if (c) c->close(c);
        coll_close(coll);
        free(g.impl);
        return rc == 0 ? 0 : 1;
    }
    int v = nccl_available(msg, sizeof msg);
    printf("%s (version code %d)\n", msg, v);
    return v ? 0 : 1;
}
EOF
ldlibs=${GPU_LDLIBS:-$(make -s --no-print-directory print-ldlibs)}
# shellcheck disable=SC2086 # ldlibs is a list of flags
if $CC -std=c11 -I. -o "$tmp/nccl" "$tmp/nccl.c" build/libgptc.a $ldlibs -fopenmp \
    >"$tmp/nccl.log" 2>&1; then
    expect 1 "a missing NCCL is an error naming the path" \
        "NCCL: $tmp/none.so not found ($tmp/none.so: " -- env GPTC_NCCL_LIB="$tmp/none.so" "$tmp/nccl"
    expect 1 "a library that is not NCCL is an error naming it and the entry point" \
        "NCCL: libm.so.6 has no ncclGetVersion" -- env GPTC_NCCL_LIB=libm.so.6 "$tmp/nccl"
    expect 1 "devcomm_nccl without NCCL: NULL with the loader's reason" \
        "NCCL: $tmp/none.so not found (" -- env GPTC_NCCL_LIB="$tmp/none.so" "$tmp/nccl" devcomm
    nccl_lib=${CUDA_HOME:-/usr/local/cuda}/lib64/libnccl.so.2
    if [ -e "$nccl_lib" ]; then
        expect 0 "the toolkit's NCCL loads with every entry point gptc uses: $(
            env -u GPTC_NCCL_LIB "$tmp/nccl" 2>&1 | head -n 1)" "NCCL 2." -- env -u GPTC_NCCL_LIB "$tmp/nccl"
        expect 1 "devcomm_nccl refuses a Gpu that is not cuda" \
            "NCCL: rank 0 of 1: NCCL needs a cuda Gpu, not sim" -- env GPTC_NCCL_LIB="$nccl_lib" "$tmp/nccl" devcomm
    else
        missing "no NCCL at $nccl_lib" "install NCCL into the CUDA toolkit or set CUDA_HOME"
    fi
    fake_nccl=$tmp/libfakenccl.so
    if $CC -std=c11 -Wall -Wextra -Werror -isystem "$CUDA_INC" -shared -fPIC -o "$fake_nccl" \
        tests/cuda/fake_libnccl.c >"$tmp/fake_nccl.log" 2>&1; then
        fake() { env GPTC_CUDA_LIB="$fake" FAKE_CUDA_DEVICES=1 GPTC_NCCL_LIB="$fake_nccl" "$@" "$tmp/nccl" fake; }
        expect 0 "NCCL DevComm on a fake NCCL: set up, sum, broadcast, wait, close" "collectives done" -- fake
        for line in "premultiplied sum by 0.5" "ncclAllReduce of 1000 (type 7, op 5, in place)" \
            "ncclBroadcast of 7 (type 1, root 0, in place)" "ncclCommFinalize" "ncclCommDestroy"; do
            grep -qF "fake nccl: $line" "$tmp/out" && pass "NCCL DevComm calls: $line" ||
                fail "NCCL DevComm calls: no '$line'" "$(cat "$tmp/out")"
        done
        ! grep -q "ncclCommAbort" "$tmp/out" && pass "a clean close does not abort" || fail "a clean close aborted"
        aborts() {
            expect 1 "$1" "$2" -- fake "${@:3}"
            grep -qF "fake nccl: ncclCommAbort" "$tmp/out" && pass "$1: aborted" || fail "$1: no ncclCommAbort"
        }
        aborts "a communicator that never comes up: the deadline" \
            "NCCL: rank 0 of 1: setting up the communicator (ncclCommInitRankConfig): not done within 1 s" \
            FAKE_NCCL_INIT=HANG
        aborts "a communicator that fails to come up: NCCL's reason" \
            "NCCL: rank 0 of 1: setting up the communicator (ncclCommInitRankConfig): remote process exited or there was a network error (fake: rank 1 closed the connection)" \
            FAKE_NCCL_INIT=ERROR
        aborts "collectives that never finish: the deadline" \
            "NCCL: rank 0 of 1: waiting for the collectives: not done within 1 s" FAKE_CUDA_EVENT=NOT_READY
        aborts "collectives whose peer dies: NCCL's error, before the deadline" \
            "NCCL: rank 0 of 1: waiting for the collectives: remote process exited or there was a network error (fake: rank 1 closed the connection)" \
            FAKE_CUDA_EVENT=NOT_READY FAKE_NCCL_ASYNC=ERROR
    else
        fail "the fake NCCL builds" "$(cat "$tmp/fake_nccl.log")"
    fi
else
    fail "a program using cuda/nccl_comm.h builds" "$(tail -n 8 "$tmp/nccl.log")"
fi

finish
