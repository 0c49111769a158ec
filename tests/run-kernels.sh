#!/usr/bin/env bash
# run-kernels.sh GPTC_BINARY: every generated kernel of every tiny model
# (models/tiny*.yaml) run on the sim executor and compared with the ref
# executor's code on random inputs (tests/kernels/test_kernels.c says how:
# shapes with tails, in-place outputs, guard bytes, tolerances, and a second
# run in random thread/block order with poisoned shared memory and
# asynchronous copies and products completing as late as their waits
# allow). No GPU.
#
# For each tiny model, and each variant below (tiny.yaml with overrides, for
# the template paths that no model takes; only the families it names are
# tested): `GPTC compile --no-compile` into build/kernels/gen/NAME;
# its kernels_sim.cc, as generated, and test_kernels.c (with -I on that
# folder for kernels.h) are built twice, each linked with
# runtime/device/sim/cuda_emu.cc (and runtime/data/token_segments.c, the embedding
# backward's host side): -O2, and -O1 with AddressSanitizer + UBSan, whose
# stderr must stay empty. The other models' kernels_sim.cc are only built
# (-O2): their kernels are the same templates at sizes too large to run
# here in seconds. Every build warns as an error and contracts no
# multiply-add into an FMA (-ffp-contract=off, as NVRTC's --fmad=false),
# since the kernels promise the ref code's exact fp32 order.
# Prints one line per result and ends with "kernels: N passed, N failed";
# exits 1 if anything failed, 2 on bad usage. Needs bash, g++ and gcc (C++17,
# C11); CXX and CC override them.
#
# run-kernels.sh --gpu GPTC_BINARY [MODEL...]: the GPU mode instead
# (tests/kernels/gpu_mode.h): one -O2 build per tiny model and variant (or
# only the MODELs named), with -DGPTC_KERNELS_GPU and linked with
# build/libgptc.a (make build/libgptc.a first), which must not need
# libcuda; each runs its kernels on sim, on the GPU and through the ref
# code, and the first also checks Gpu.gemm against CBLAS (--gemm). Without
# a GPU each program prints "skipped: no GPU ..." (passed through, not
# counted). GPU_LDLIBS and GPU_INC give the libraries and extra include
# flags (the Makefile's test-kernels-gpu passes its own); the default is
# what `make print-ldlibs` prints.
set -u

gpu=0
if [ "${1:-}" = --gpu ]; then
    gpu=1
    shift
fi
if [ $# -lt 1 ] || { [ $gpu -eq 0 ] && [ $# -ne 1 ]; }; then
    echo "usage: $0 GPTC_BINARY | $0 --gpu GPTC_BINARY [MODEL...]" >&2
    exit 2
fi
bin=$1
shift
pick=("$@")
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin" ] || [ -d "$bin" ]; then
    echo "run-kernels: '$1' is not an executable; build it with 'make build/gptc'" >&2
    exit 2
fi
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd) || exit 2
cd -- "$root" || exit 2

CXX=${CXX:-g++}
CC=${CC:-gcc}
out=build/kernels
[ $gpu -eq 1 ] && out=build/kernels-gpu
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
# WERROR= (set by scripts/gpu-check.sh) keeps warnings from stopping the
# build on another machine's newer compiler; here they are errors.
WERROR=${WERROR--Werror}
CXXFLAGS="-std=c++17 -Wall -Wextra $WERROR -ffp-contract=off"
# CUDA code reinterprets pointers freely (bf16 * as a vector of 8): the
# kernels' translation unit must not assume strict aliasing.
KFLAGS=-fno-strict-aliasing
CFLAGS="-std=c11 -D_DEFAULT_SOURCE -Wall -Wextra $WERROR -Wshadow -Wstrict-prototypes"
CFLAGS="$CFLAGS -ffp-contract=off -fopenmp"
CINC="-I."
# -g1 (line tables) under ASan: its reports still name each frame's file
# and line, and the sanitized builds of the kernels compile in 8 s instead
# of 14 (they were most of this script's time).
declare -A flags=([o2]="-O2 -g" [asan]="-O1 -g1 $SAN" [gpu]="-O2 -g")
flavours=(o2 asan)
if [ $gpu -eq 1 ]; then
    flavours=(gpu)
    if [ ! -f build/libgptc.a ]; then
        echo "run-kernels: build/libgptc.a is missing; build it with 'make build/libgptc.a'" >&2
        exit 2
    fi
    CINC="$CINC ${GPU_INC:-}"
fi
# The runtime's libraries: the GPU mode links the runtime; the others need
# its BLAS, which the ref attention the tests compare with calls.
LDLIBS=${GPU_LDLIBS:-$(make -s --no-print-directory print-ldlibs)}
# picked NAME: whether the --gpu run was asked for NAME (all when none named).
picked() {
    [ ${#pick[@]} -eq 0 ] && return 0
    local p
    for p in "${pick[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    printf 'ok    %s\n' "$1"
}
# fail MESSAGE [FILE]: a failure, with the first lines of FILE below it.
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$1"
    if [ $# -ge 2 ] && [ -s "$2" ]; then
        head -n 40 -- "$2" | while IFS= read -r l; do printf '      | %s\n' "$l"; done
    fi
}

# Nothing from an earlier run may stand in for a build that fails now.
rm -rf "$out"
mkdir -p "$out/gen" "$out/o2" "$out/asan" "$out/gpu" || exit 2

models=()
others=()
for m in models/*.yaml; do
    name=$(basename "$m" .yaml)
    if [ $gpu -eq 1 ] && { [[ $name != tiny* ]] || ! picked "$name"; }; then
        continue
    elif ! "$bin" compile "$m" --no-compile -o "$out/gen/$name" >"$out/gen-$name.log" 2>&1; then
        fail "$m: gptc compile --no-compile" "$out/gen-$name.log"
    elif [[ $name == tiny* ]]; then
        models+=("$name")
    else
        others+=("$name")
    fi
done

# Variants: tiny.yaml with overrides that reach template paths no model in
# models/ takes, tested for the families listed only (the rest are the
# tiny models' own kernels again, at sizes too large to run here):
#   NAME|OVERRIDES|FAMILIES
# d2048: a 2-warp block per RMS-norm row (the records stop at dim 1024, a
# warp per row); the sigmoid softcap with an offset, over an odd padded
# vocabulary (257: one fp32 per vector, 288 threads). d16400: 1024 threads
# per row that read it twice instead of keeping it in registers; head_dim
# 400, a row of 50 vectors per warp (no attention layers: its kernels stop at
# head_dim 256); no softcap, over 258 classes (pairs).
# v50304: the records' cross-entropy row, 25 vectors per thread, so that
# each thread's running max and sum are rescaled as they go.
# qkv-pre: q/k/v with the pre-norm (v not normed), interleaved rotary pairs,
# 5 rotating pairs (a vector partly rotating) and head_dim 48 (3 vectors per
# head on 4 threads: one idle).
# h128: the records' head_dim 128 (their attention tiles: 32 keys or 16
# queries at a time in the backward), on one head.
# A fourth field is a tuning choice (gptc tune's database line without its
# template hash): attn-small, attention's smallest tiles at head_dim 32,
# asking for 2 blocks per SM; h128-wide, 128-query tiles with 128-key
# forward tiles at head_dim 128; attn-dq-recompute, the rule's tiles with
# dQ recomputed by attn_bwd_dq instead of read from the dS attn_bwd_dkdv
# stores (the rule's path, which every other build here takes); the 3-stage
# pipelines: attn-small-3 at the smallest tiles (several rotations of the
# stages per block), h128-3 recomputing dQ at head_dim 128; attention on
# warpgroups (wgmma's portable twin here, wgmma itself in the GPU mode on
# sm_90a): h128-wg, attn_fwd's 64-key products and P V 128 wide,
# attn_bwd_dkdv's 64-query ones and dQ's 32-key ones; h64-wg, two
# warpgroups a block in 3 stages, attn_fwd's 128-key products and P V 64
# wide overlapping the softmax (the next tile's scores and softmax while
# this tile's P V runs), attn_bwd_dkdv's 32-query products and dQ's 64-key
# ones (attn_fwd's plain warpgroup form in 3 stages: tests/unit/test_tune.c,
# in a whole step, which also checks the overlapped one against it bit for
# bit).
variants=(
    "tiny-d2048|model.dim=2048 model.heads=16 model.head_dim=128 head.softcap=sigmoid head.cap=30 head.offset=-0.5 vocab.pad_multiple=1|rmsnorm,softcap_ce"
    "tiny-d16400|model.dim=16400 model.heads=41 model.head_dim=400 head.softcap=none vocab.pad_multiple=2 attention.off_layers=[0,1,2,3,4,5] attention.window.long_layers=[] value_embeddings.tables=0|rmsnorm,softcap_ce"
    "tiny-v50304|vocab.size=50257 vocab.pad_multiple=128|softcap_ce"
    "tiny-qkv-pre|model.dim=96 model.heads=2 model.head_dim=48 attention.norm=pre attention.rotary.convention=interleaved attention.rotary.pairs=5|qkv"
    "tiny-h128|model.dim=128 model.heads=1 model.head_dim=128|attention"
    "tiny-attn-small||attention|attention h4_d32 threads=128 vec=8 tile=64 fwd_kn=32 dq_kn=32 dkdv_qn=16 minb=2 dq_src=2 stages=2 fwd_mma=1 dkdv_mma=1 dq_mma=1"
    "tiny-h128-wide|model.dim=128 model.heads=1 model.head_dim=128|attention|attention h1_d128 threads=256 vec=8 tile=128 fwd_kn=128 dq_kn=64 dkdv_qn=32 minb=1 dq_src=2 stages=2 fwd_mma=1 dkdv_mma=1 dq_mma=1"
    "tiny-attn-dq-recompute||attention|attention h4_d32 threads=128 vec=8 tile=64 fwd_kn=64 dq_kn=64 dkdv_qn=64 minb=1 dq_src=1 stages=2 fwd_mma=1 dkdv_mma=1 dq_mma=1"
    "tiny-attn-small-3||attention|attention h4_d32 threads=128 vec=8 tile=64 fwd_kn=32 dq_kn=32 dkdv_qn=16 minb=1 dq_src=2 stages=3 fwd_mma=1 dkdv_mma=1 dq_mma=1"
    "tiny-h128-3|model.dim=128 model.heads=1 model.head_dim=128|attention|attention h1_d128 threads=128 vec=8 tile=64 fwd_kn=64 dq_kn=32 dkdv_qn=32 minb=1 dq_src=1 stages=3 fwd_mma=1 dkdv_mma=1 dq_mma=1"
    "tiny-h128-wg|model.dim=128 model.heads=1 model.head_dim=128|attention|attention h1_d128 threads=128 vec=8 tile=64 fwd_kn=64 dq_kn=32 dkdv_qn=64 minb=1 dq_src=2 stages=2 fwd_mma=2 dkdv_mma=2 dq_mma=2"
    "tiny-h64-wg|model.dim=128 model.heads=2 model.head_dim=64|attention|attention h2_d64 threads=256 vec=8 tile=128 fwd_kn=128 dq_kn=64 dkdv_qn=32 minb=1 dq_src=2 stages=3 fwd_mma=3 dkdv_mma=2 dq_mma=2"
)
version=$("$bin" --version | sed -n 's/^gptc \([^ ]*\).*/\1/p')
declare -A only=()
for v in "${variants[@]}"; do
    IFS='|' read -r name sets families choice <<<"$v"
    [ $gpu -eq 1 ] && ! picked "$name" && continue
    args=()
    for kv in $sets; do args+=(--set "$kv"); done
    if [ -n "$choice" ]; then
        read -r family shape knobs <<<"$choice"
        printf 'gptc-tune 1\nvalidator gptc %s\nchoice %s - %s %s\n' "$version" "$family" "$shape" "$knobs" \
            >"$out/gen/$name.db"
        args+=(--db "$out/gen/$name.db")
    fi
    if ! "$bin" compile models/tiny.yaml "${args[@]}" --no-compile -o "$out/gen/$name" \
        >"$out/gen-$name.log" 2>&1; then
        fail "variant $name: gptc compile --no-compile" "$out/gen-$name.log"
    else
        models+=("$name")
        only[$name]=$families
    fi
done

# ---- build: every compile in parallel, then the links ---------------------------

jobs=()
declare -A broken=()
# job NAME COMMAND...: runs in the background, output in $out/NAME.log,
# once fewer than one job per core run (dozens of compilers at once on two
# cores only take turns, each with its own 270 MB).
slots=$(nproc 2>/dev/null || echo 2)
job() {
    local name=$1
    shift
    while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do sleep 0.1; done
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

# The GPU mode's extra flags for model NAME: its kernels.cu, for NVRTC.
gpu_flags() {
    [ "$1" = gpu ] && printf -- '-DGPTC_KERNELS_GPU -DGPTC_KERNELS_CU="%s"' "$root/$out/gen/$2/kernels.cu"
}
for f in "${flavours[@]}"; do
    job "$f-emu" $CXX $CXXFLAGS ${flags[$f]} -Iruntime/device/sim -c runtime/device/sim/cuda_emu.cc -o "$out/$f/cuda_emu.o"
    job "$f-segments" $CC $CFLAGS ${flags[$f]} $CINC -c runtime/data/token_segments.c -o "$out/$f/token_segments.o"
    for name in "${models[@]}"; do
        job "$f-$name-kernels" $CXX $CXXFLAGS ${flags[$f]} $KFLAGS -Iruntime/device/sim -Itemplates \
            -c "$out/gen/$name/kernels_sim.cc" -o "$out/$f/$name-kernels_sim.o"
        job "$f-$name-test" $CC $CFLAGS ${flags[$f]} $CINC -I"$out/gen/$name" $(gpu_flags "$f" "$name") \
            -c tests/kernels/test_kernels.c -o "$out/$f/$name-test_kernels.o"
    done
done
for name in "${others[@]}"; do
    job "o2-$name-kernels" $CXX $CXXFLAGS ${flags[o2]} $KFLAGS -Iruntime/device/sim -Itemplates \
        -c "$out/gen/$name/kernels_sim.cc" -o "$out/o2/$name-kernels_sim.o"
done
wait_jobs
for name in "${others[@]}"; do
    [ -n "${broken[o2-$name-kernels]+x}" ] || pass "o2: $name: kernels_sim.cc builds"
done
# -rdynamic: the test finds each kernel by its exported name, as the runtime
# will find it in a loaded module.
# The GPU mode links the runtime, never libcuda (loaded with dlopen).
for f in "${flavours[@]}"; do
    for name in "${models[@]}"; do
        [ -z "${broken[$f-emu]+x}${broken[$f-segments]+x}${broken[$f-$name-kernels]+x}${broken[$f-$name-test]+x}" ] ||
            continue
        if [ "$f" = gpu ]; then
            # shellcheck disable=SC2086 # LDLIBS is a list of flags
            job "$f-$name-link" $CXX ${flags[$f]} -fopenmp -rdynamic -o "$out/$f/$name" \
                "$out/$f/$name-test_kernels.o" "$out/$f/$name-kernels_sim.o" "$out/$f/cuda_emu.o" \
                build/libgptc.a $LDLIBS
        else
            # shellcheck disable=SC2086 # LDLIBS is a list of flags
            job "$f-$name-link" $CXX ${flags[$f]} -fopenmp -rdynamic -o "$out/$f/$name" \
                "$out/$f/$name-test_kernels.o" "$out/$f/$name-kernels_sim.o" "$out/$f/cuda_emu.o" \
                "$out/$f/token_segments.o" $LDLIBS
        fi
    done
done
wait_jobs
for name in "${models[@]}"; do
    exe=$out/gpu/$name
    [ $gpu -eq 1 ] && [ -x "$exe" ] || continue
    if readelf -d "$exe" | grep -q 'NEEDED.*libcuda'; then
        fail "gpu: $name: the test program links libcuda"
    else
        pass "gpu: $name: builds and links without libcuda"
    fi
done

# ---- run: one program per core at a time, then their results in order ----------

# One OpenMP thread each (the ref code's loops): the programs run side by
# side, one per core, so that each program's time limit measures the
# program, not how many others share the machine; their results do not
# depend on the thread count.
declare -A status=()
limit=300 # the slowest, tiny-d16400 under ASan, takes 45 s on a core of its own
for name in "${models[@]}"; do
    for f in "${flavours[@]}"; do
        exe=$out/$f/$name
        [ -x "$exe" ] || continue
        while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do sleep 0.2; done
        OMP_NUM_THREADS=1 timeout -k 5 $limit "$exe" "$name" 20240520 ${only[$name]:+"${only[$name]}"} \
            >"$exe.out" 2>"$exe.err" &
        status[$f/$name]=$!
    done
done
# The GEMM check, once: the first program that built, after the others.
gemm_exe=
for name in "${models[@]}"; do
    if [ $gpu -eq 1 ] && [ -x "$out/gpu/$name" ]; then
        gemm_exe=$out/gpu/$name
        break
    fi
done
for name in "${models[@]}"; do
    for f in "${flavours[@]}"; do
        exe=$out/$f/$name
        [ -n "${status[$f/$name]+x}" ] || continue
        wait "${status[$f/$name]}"
        rc=$?
        # Each "ok"/"FAIL" line test_kernels prints is a result; it must exit
        # 0, in time, with nothing on stderr.
        while IFS= read -r line; do
            case $line in
                ok\ *) pass "$f: ${line#ok }" ;;
                FAIL\ *) fail "$f: ${line#FAIL }" ;;
                skipped:* | info\ *) printf '%s\n' "$line" ;;
            esac
        done <"$exe.out"
        if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$exe.out"; then
            fail "$f: $name: test_kernels exited with status $rc" "$exe.err"
        elif [ -s "$exe.err" ]; then
            fail "$f: $name: test_kernels wrote to stderr" "$exe.err"
        fi
    done
done

if [ -n "$gemm_exe" ]; then
    timeout -k 5 300 "$gemm_exe" --gemm >"$gemm_exe.gemm.out" 2>"$gemm_exe.gemm.err"
    rc=$?
    while IFS= read -r line; do
        case $line in
            ok\ *) pass "gpu: ${line#ok }" ;;
            FAIL\ *) fail "gpu: ${line#FAIL }" ;;
            skipped:* | info\ *) printf '%s\n' "$line" ;;
        esac
    done <"$gemm_exe.gemm.out"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$gemm_exe.gemm.out"; then
        fail "gpu: the GEMM check exited with status $rc" "$gemm_exe.gemm.err"
    elif [ -s "$gemm_exe.gemm.err" ]; then
        fail "gpu: the GEMM check wrote to stderr" "$gemm_exe.gemm.err"
    fi
fi

echo "kernels${pick[*]:+ (gpu: ${pick[*]})}$([ $gpu -eq 1 ] && [ ${#pick[@]} -eq 0 ] && echo ' (gpu)'): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
