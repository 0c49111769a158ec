#!/usr/bin/env bash
# gpu-check.sh: the one prepared script for a machine with a GPU
# (docs/design.md, 'Tests and budgets'), finishing well inside 10 minutes.
# Writes everything to stdout and, when $OUT is set, to $OUT/gpu-check.txt.
# On a machine without a GPU it still builds, and each GPU step says
# "skipped: no GPU" (never counted as passed). Steps:
#   versions   nvidia-smi, driver, nvcc, python, torch, compiler, OS
#   deps       the build's system libraries; where the machine lacks them
#              (no libyaml-dev, libpcre2-dev or OpenBLAS's OpenMP build),
#              the .deb files scripts/fetch-gpu-deps.sh put in .gpudeps/
#              are unpacked with `dpkg -x` into $GPTC_DEPS (default
#              /tmp/gptc-deps) and the build points there (make's
#              EXTRA_INC, EXTRA_LIB and BLAS_DIR). GPTC_DEPS set in the
#              environment forces that path (a dry run on any machine).
#   build      build/gptc and build/libgptc.a
#   cuda       tests/run-cuda.sh (loaders, errors, backend choice): with
#              GPTC_CHECK_CPU_TESTS=1 only, since make test runs it on every
#              CPU and the GPU's minutes are scarce
#   kernels    every kernel of every tiny model on the GPU against ref and
#              sim, and Gpu.gemm against CBLAS (make test-kernels-gpu);
#              GPTC_GPU_MODELS names a subset (tiny variants by name)
#   train      a whole training step of each tiny model on cuda against ref
#              (loss, every gradient, every update, the loss after it) and a
#              20-step loss curve: tests/unit/test_simstep.c with
#              GPTC_TEST_DEVICE=cuda
#   nccl       the cuda executor's NCCL DevComm on a communicator of one
#              (tests/unit/test_nccl.c: sums, broadcasts, stream order, an
#              all-reduce's GB/s); the gradients averaged during the backward
#              pass through it are checked by the train step's
#              simstep_gradients_over_one_rank_unchanged. One GPU cannot
#              test more ranks: NCCL refuses two ranks on one device
#   record     gptc train on cuda: 2 steps of tiny.yaml, whose run record
#              must name the GPU, its driver, NVRTC and cuBLASLt
#              (runtime/train/manifest.h); then --resume on ref to step 3, which
#              must report the change of executor and go on
#   trainer    make train-tiny-x02 (the generated trainer, its CUBINs
#              compiled ahead of time) and 2 steps of it on cuda, which must
#              give gptc train's parameters bit for bit (gptc train compiles
#              the same kernels.cu with NVRTC when it starts)
#   timing     gptc bench: 20 steps of r10-medium-x01 at 65,536 tokens on
#              the GPU (ms/step, tok/s, MFU against 989 TFLOP/s, peak memory),
#              then 3 profiled steps: time by kernel family, slowest steps
#   warpgroups attention on warpgroups (wgmma) against the rules' warps on
#              r10-medium-x01: gptc bench --db with a database written
#              here that chooses them at the widest tiles, in turns with the
#              rules, as the variant step does (the ratio and both
#              profiles: attention's TFLOP/s with and without); then the
#              same with attn_fwd's products overlapping its softmax (3
#              stages) against it
#   tune       gptc tune on r10-medium-x01 on the GPU, twice: cold (an
#              empty NVRTC cache) and warm (the same cache, fewer rounds);
#              up to 9 minutes, so GPTC_CHECK_TUNE=0 leaves it out, and
#              GPTC_STEPS=tune runs it alone (after versions, deps, build);
#              each prints its phases' seconds (pruning, opening the bench,
#              the correctness gate, the timing), every kernel's chosen
#              variant and every GEMM shape's cuBLASLt algorithm with its
#              measured speed-up over the rule (the heuristic's first), and the
#              whole-step A/B of the tuned kernels against the rules, in
#              one run; then gptc compile --report --db on the result
#   variant    only with GPTC_VARIANT=DIR (another checkout of gptc, e.g. a
#              branch under test, carried to the machine): built like this
#              one, then both time r10-medium-x01 in turns (this, the
#              variant, this, the variant: 10 steps each) and the ratio of
#              their means is printed: a change's effect measured side by
#              side in one run. To make one from revision REV in a folder
#              git ignores, name it in the device tool's carry, and pass
#              GPTC_VARIANT=.variant:
#                echo /.variant/ >> .git/info/exclude
#                mkdir .variant && git archive REV | tar -x -C .variant
#   torch      the project's PyTorch reference of the same model under
#              torch.compile (tests/reference/bench_gpu.py, FlexAttention),
#              same tokens per step, same run; then the ratio, both timed
#              steps side by side (ms/step, tokens/s, MFU, peak memory) and
#              both profiles by class (tests/reference/
#              compare_profiles.py: GEMMs, attention forward and backward,
#              softcap + cross-entropy, elementwise, copies; TFLOP/s and
#              GB/s against the GPU's peaks).
#              GPTC_CHECK_TORCH=0 leaves it out (a quicker rerun after a
#              fix, when the same run's figures are already in hand)
# GPTC_STEPS="kernels timing ..." runs only the steps named, by their
# functions' names: cuda_tests kernels train_step nccl run_record trainer
# timing warpgroups tune variant torch_compare (versions, deps and build
# always run).
# Exit status: 0 when no step failed.
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    exec > >(tee "$OUT/gpu-check.txt") 2>&1
fi
t0=$(date +%s)
results=${OUT:-$root/build/gpu-check}
mkdir -p "$results"
passed=0 failed=0 skipped=0 notyet=0
jobs=$(nproc 2>/dev/null || echo 4)
# Warnings are errors in CI; here, another distribution's compiler must not
# stop the check over a warning it is the first to give.
makevars=(WERROR=)
export WERROR=
gpu=0

# Whether there is a GPU; where there is none, the step says it is skipped.
have_gpu() { [ $gpu -eq 1 ] || { skip "no GPU: $1"; return 1; }; }
step() { printf '\n== %s (at %ds)\n' "$1" $(($(date +%s) - t0)); }
ok() { passed=$((passed + 1)); echo "PASS  $1"; }
bad() { failed=$((failed + 1)); echo "FAIL  $1"; }
skip() { skipped=$((skipped + 1)); echo "skipped: $1"; }
not_yet() { notyet=$((notyet + 1)); echo "not yet: $1"; }
# run SECONDS NAME LOG COMMAND...: a step's command with a time limit, its
# output into LOG (- for here).
run() {
    local limit=$1 name=$2 log=$3
    shift 3
    if [ "$log" = - ]; then
        timeout -k 10 "$limit" "$@"
    else
        timeout -k 10 "$limit" "$@" >"$log" 2>&1
    fi
    local rc=$?
    if [ $rc -eq 0 ]; then ok "$name"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then bad "$name: over its ${limit}s limit"
    else bad "$name: exit status $rc"
    fi
    return $rc
}

versions() {
    step versions
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi
        nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
        nvidia-smi -L | grep -q '^GPU ' && gpu=1
    else
        echo "nvidia-smi: not found"
    fi
    for c in "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc --version" "python3 --version" "${CC:-gcc} --version" "make --version"; do
        echo "\$ $c"
        $c 2>&1 | head -n 5
    done
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1
    uname -srm
    grep -E '^PRETTY_NAME=' /etc/os-release 2>/dev/null
    echo "GPU: $([ $gpu -eq 1 ] && echo yes || echo no)"
}

# Whether a program with the build's headers and libraries links.
deps_link() {
    local dir inc=() lib=()
    dir=$(mktemp -d)
    [ $# -gt 0 ] && inc=(-isystem "$1/usr/include" -isystem "$1/usr/include/$arch/openblas-openmp") &&
        lib=(-L "$1/usr/lib/$arch" -Wl,-rpath-link,"$1/usr/lib/$arch")
    printf '%s\n' '#define PCRE2_CODE_UNIT_WIDTH 8' '#include <yaml.h>' '#include <pcre2.h>' '#include <cblas.h>' \
        'int main(void) { yaml_parser_t p; yaml_parser_initialize(&p); return (int)cblas_sdot(0, 0, 1, 0, 1); }' \
        >"$dir/probe.c"
    ${CC:-gcc} "${inc[@]}" -fopenmp -o "$dir/probe" "$dir/probe.c" "${lib[@]}" -lyaml -lpcre2-8 \
        -L"${blas:-/usr/lib/$arch/openblas-openmp}" -lopenblas >"$dir/log" 2>&1
    local rc=$?
    [ $rc -ne 0 ] && sed 's/^/    | /' "$dir/log" | head -n 6
    rm -rf "$dir"
    return $rc
}

deps() {
    step deps
    arch=$(${CC:-gcc} -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    if ! command -v make >/dev/null && ls .gpudeps/make_*.deb >/dev/null 2>&1; then
        dpkg -x .gpudeps/make_*.deb /tmp/gptc-make && export PATH=/tmp/gptc-make/usr/bin:$PATH
        echo "note: no make on the system: using the one from .gpudeps/"
    fi
    local forced=${GPTC_DEPS:+1}
    if [ -z "$forced" ] && deps_link; then
        ok "the system has libyaml, PCRE2 and OpenBLAS (OpenMP) with their headers"
        return
    fi
    local d=${GPTC_DEPS:-/tmp/gptc-deps}
    if ! ls .gpudeps/*.deb >/dev/null 2>&1; then
        bad "the system lacks build dependencies and .gpudeps/ holds no .deb (run scripts/fetch-gpu-deps.sh where there is a network)"
        return
    fi
    rm -rf "$d" && mkdir -p "$d"
    for deb in .gpudeps/*.deb; do dpkg -x "$deb" "$d" || bad "dpkg -x $deb"; done
    blas=$d/usr/lib/$arch/openblas-openmp
    if deps_link "$d"; then
        makevars+=("EXTRA_INC=$d/usr/include $d/usr/include/$arch/openblas-openmp" "EXTRA_LIB=$d/usr/lib/$arch"
                  "BLAS_DIR=$blas")
        ok "build dependencies unpacked from .gpudeps/ into $d${forced:+ (GPTC_DEPS)}"
        # OpenBLAS needs the Fortran runtime; the binaries' run path does
        # not reach a library's own dependencies, so where the system has
        # none, this script's programs find the unpacked one.
        if ! ldconfig -p 2>/dev/null | grep -q 'libgfortran\.so\.5 '; then
            export LD_LIBRARY_PATH=$d/usr/lib/$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
            echo "note: no libgfortran.so.5 on the system: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
        fi
    else
        bad "build dependencies from .gpudeps/ do not link"
    fi
}

build() {
    step build
    local log=$root/build/gpu-check-build.log
    # make's first step would run scripts/setup.sh (apt-get), which cannot
    # reach a registry from the GPU machine: deps() has provided the
    # libraries instead.
    mkdir -p build && touch build/.deps
    run 300 "build/gptc, build/libgptc.a and build/test_unit" "$log" \
        make -j"$jobs" "${makevars[@]}" build/gptc build/libgptc.a build/test_unit ||
        tail -n 30 "$log"
    [ -x build/gptc ] && ldd build/gptc | grep -E 'yaml|pcre2|openblas|gfortran'
}

cuda_tests() {
    [ "${GPTC_CHECK_CPU_TESTS:-0}" = 1 ] || return
    step cuda
    [ -x build/gptc ] || return
    run 120 "make test-cuda (the GPU test program builds without libcuda; loaders, errors, backend choice)" \
        "$root/build/gpu-check-cuda.log" make "${makevars[@]}" test-cuda
    grep -E '^(FAIL|skipped:|cuda:|kernels)' "$root/build/gpu-check-cuda.log"
}

kernels() {
    step kernels
    have_gpu "every kernel of every tiny model on the GPU, and Gpu.gemm against CBLAS" || return
    run 150 "every kernel of every tiny model on the GPU vs ref and sim; Gpu.gemm vs CBLAS" - \
        make -j"$jobs" "${makevars[@]}" "GPU_MODELS=${GPTC_GPU_MODELS:-}" test-kernels-gpu
}

train_step() {
    step train
    have_gpu "a training step of each tiny model on cuda vs ref" || return
    run 100 "a whole training step of tiny, tiny-x02, tiny-x04 and a 20-step curve of tiny: cuda vs ref" - \
        env GPTC_TEST_DEVICE=cuda build/test_unit simstep
}

nccl() {
    step nccl
    have_gpu "NCCL on the GPU" || return
    run 120 "NCCL: sums, broadcasts and stream order on a communicator of one" - \
        env GPTC_TEST_DEVICE=cuda build/test_unit nccl
}

run_record() {
    step record
    have_gpu "a run record naming the GPU" || return
    local dir=$results/record
    rm -rf "$dir" && mkdir -p "$dir"
    head -c 100000 data/demo/corpus.txt >"$dir/text.txt"
    build/gptc data "$dir/text.txt" -o "$dir/data" --name t --paragraphs --val-fraction 0.1 >/dev/null 2>&1
    local sets=(--set "train.data.train=$dir/data/t_train_*.bin" --set "train.data.val=$dir/data/t_val_*.bin"
        --set train.steps=3 --set train.val.tokens=4096 --no-progress --run-dir "$dir/run")
    run 120 "gptc train on cuda: 2 steps of tiny.yaml" "$dir/cuda.log" \
        build/gptc train models/tiny.yaml --backend cuda --steps 2 "${sets[@]}" || return
    run 60 "its run record names the GPU, driver, NVRTC and cuBLASLt" - python3 -c '
import json, sys
run = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "run"][0]
g = run["manifest"]["gpu"]
assert g["name"] and g["driver"] != "0.0" and g["nvrtc"] != "0.0" and g["cublaslt"] > 0, g
print("run record:", json.dumps(g))' "$dir/run/metrics.jsonl"
    run 120 "--resume of the cuda run on ref reports the executor and goes on" "$dir/ref.log" \
        build/gptc train models/tiny.yaml --backend ref --resume "${sets[@]}" &&
        grep -F 'executor: "cuda" -> "ref"' "$dir/ref.log"
}

trainer() {
    step trainer
    have_gpu "the generated trainer on cuda" || return
    local dir=$results/trainer
    rm -rf "$dir" && mkdir -p "$dir"
    run 300 "make train-tiny-x02 (build.c, cubins.c, the sim kernels, linked)" "$dir/make.log" \
        make "${makevars[@]}" train-tiny-x02 || { tail -n 20 "$dir/make.log"; return; }
    head -c 100000 data/demo/corpus.txt >"$dir/text.txt"
    build/gptc data "$dir/text.txt" -o "$dir/data" --name t --paragraphs --val-fraction 0.1 >/dev/null 2>&1
    local sets=(--set "train.data.train=$dir/data/t_train_*.bin" --set "train.data.val=$dir/data/t_val_*.bin"
        --set train.steps=2 --set train.val.tokens=4096 --no-progress --backend cuda)
    run 120 "the generated trainer: 2 steps of tiny-x02 on cuda from its CUBINs" "$dir/g.log" \
        build/trainers/tiny-x02/train --run-dir "$dir/g" "${sets[@]}" || { tail -n 10 "$dir/g.log"; return; }
    run 120 "gptc train: the same 2 steps on cuda" "$dir/t.log" \
        build/gptc train models/tiny-x02.yaml --run-dir "$dir/t" "${sets[@]}" || { tail -n 10 "$dir/t.log"; return; }
    build/gptc export "$dir/g/ckpt.bin" -o "$dir/g.st" --fp32 >/dev/null 2>&1 &&
        build/gptc export "$dir/t/ckpt.bin" -o "$dir/t.st" --fp32 >/dev/null 2>&1 &&
        cmp -s "$dir/g.st" "$dir/t.st" && ok "the generated trainer and gptc train give bit-identical parameters on cuda" ||
        bad "the generated trainer's parameters on cuda differ from gptc train's"
}

timing() {
    step timing
    have_gpu "20 steps of r10-medium-x01 at 65,536 tokens" || return
    run 150 "gptc bench: 20 steps of r10-medium-x01 at 65,536 tokens on cuda" - \
        build/gptc bench models/r10-medium-x01.yaml --backend cuda --tokens 65536 --steps 20 --warmup 3 \
        --json "$results/gptc-bench.json" --profile 3
}

tune() {
    step tune
    have_gpu "gptc tune on r10-medium-x01" || return
    [ "${GPTC_CHECK_TUNE:-1}" = 0 ] && { skip "GPTC_CHECK_TUNE=0: gptc tune"; return; }
    local cache=$results/tune-cache db=$results/r10-tune.db t
    rm -rf "$cache" "$db" "$results/r10-tune-warm.db"
    t=$(date +%s)
    run 330 "gptc tune r10-medium-x01 on the GPU, cold NVRTC cache (20 rounds, budget 240 s)" - \
        env GPTC_CACHE_DIR="$cache" build/gptc tune models/r10-medium-x01.yaml --backend cuda --db "$db" \
        --rounds 20 --budget 240 || return
    echo "tune, cold: $(($(date +%s) - t)) s in all"
    t=$(date +%s)
    run 200 "gptc tune again with the warm NVRTC cache (3 rounds, budget 150 s)" - \
        env GPTC_CACHE_DIR="$cache" build/gptc tune models/r10-medium-x01.yaml --backend cuda \
        --db "$results/r10-tune-warm.db" --rounds 3 --budget 150
    echo "tune, warm: $(($(date +%s) - t)) s in all"
    run 60 "gptc compile --report --db: each kernel's variant and speed-up" - \
        build/gptc compile models/r10-medium-x01.yaml --db "$db" --report --no-compile -o "$results/r10-tuned"
}

# ab NAME_A NAME_B: r10-medium-x01 timed in turns by the commands in the
# arrays ab_a and ab_b (gptc's binary, then options for its bench): A, B,
# A, B, 10 steps each, the last two turns profiling 3 more steps; then the
# ratio of their means and both profiles by class side by side.
ab() {
    local name_a=$1 name_b=$2 turn ms=() prof=() cmd=()
    local args=(models/r10-medium-x01.yaml --backend cuda --tokens 65536 --steps 10 --warmup 2)
    for turn in 0 1 2 3; do
        if [ $((turn % 2)) -eq 0 ]; then cmd=("${ab_a[@]}"); else cmd=("${ab_b[@]}"); fi
        [ $turn -ge 2 ] && prof=(--profile 3)
        "${cmd[@]:0:1}" bench "${args[@]}" "${cmd[@]:1}" "${prof[@]}" --json "$results/ab$turn.json" \
            >"$results/ab$turn.out" 2>&1 || { bad "bench of ${cmd[*]} (turn $turn)"; tail -n 5 "$results/ab$turn.out"; return 1; }
        ms+=("$(json_field "$results/ab$turn.json" ms_per_step)")
        echo "  turn $turn: ${cmd[*]}: ${ms[-1]} ms/step"
    done
    awk -v na="$name_a" -v nb="$name_b" -v a="${ms[0]}" -v b="${ms[1]}" -v c="${ms[2]}" -v d="${ms[3]}" 'BEGIN {
        printf "%s %.2f ms/step, %s %.2f ms/step: %s takes %.3fx the time\n", na, (a + c) / 2, nb, (b + d) / 2, nb,
               (b + d) / (a + c) }'
    echo "the two profiles by class (attention's TFLOP/s before and after, from the same run):"
    python3 tests/reference/compare_profiles.py "$results/ab2.json" "$results/ab3.json" --names "$name_a" "$name_b" \
        --peak-gbs "$(peak_gbs)" || { bad "compare_profiles.py: $name_a against $name_b"; return 1; }
}

# Attention on warpgroups (wgmma) against the rules' warps (mma.sync),
# chosen by hand at the widest tiles through gptc bench --db, whatever
# gptc tune would pick: the Hopper kernels' own effect.
warpgroups() {
    step warpgroups
    have_gpu "attention on warpgroups against the rules on r10-medium-x01" || return
    local version
    version=$(build/gptc --version | sed -n 's/^gptc \([^ ]*\).*/\1/p')
    local wg
    for wg in "2 2" "3 3"; do
        read -r stages fwd <<<"$wg"
        printf 'gptc-tune 1\nvalidator gptc %s\nchoice attention - h8_d128 %s\n' "$version" \
            "threads=256 vec=8 tile=128 fwd_kn=128 dq_kn=32 dkdv_qn=32 minb=1 dq_src=2 stages=$stages fwd_mma=$fwd dkdv_mma=2 dq_mma=2" \
            >"$results/wg$fwd.db"
    done
    ab_a=(build/gptc) ab_b=(build/gptc --db "$results/wg2.db")
    ab rules warpgroups && ok "attention on warpgroups against the rules, side by side"
    ab_a=(build/gptc --db "$results/wg2.db") ab_b=(build/gptc --db "$results/wg3.db")
    ab warpgroups overlapped && ok "attn_fwd's products overlapping its softmax (3 stages) against warpgroups, side by side"
}

variant() {
    [ -n "${GPTC_VARIANT:-}" ] || return
    step variant
    have_gpu "the variant $GPTC_VARIANT against this tree" || return
    mkdir -p "$GPTC_VARIANT/build" && touch "$GPTC_VARIANT/build/.deps"
    run 300 "the variant's build/gptc ($GPTC_VARIANT)" "$root/build/gpu-check-variant.log" \
        make -C "$GPTC_VARIANT" -j"$jobs" "${makevars[@]}" build/gptc || return
    ab_a=(build/gptc) ab_b=("$GPTC_VARIANT/build/gptc")
    ab "this tree" variant && ok "the variant against this tree, side by side"
}

# The GPU's memory bandwidth in GB/s: an H100 SXM's 3350, else an H200's 4800.
peak_gbs() {
    if nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | grep -q H100; then echo 3350; else echo 4800; fi
}

# The value of "key" in a one-line JSON object.
json_field() { grep -oE "\"$2\": [0-9.eE+-]+" "$1" | head -n 1 | sed 's/.*: //'; }

torch_compare() {
    step torch
    if [ ! -f tests/reference/bench_gpu.py ]; then
        not_yet "the PyTorch torch.compile comparison (tests/reference/bench_gpu.py is not there yet)"
    elif [ $gpu -eq 0 ]; then
        skip "no GPU: the PyTorch torch.compile comparison"
    elif [ "${GPTC_CHECK_TORCH:-1}" = 0 ]; then
        skip "GPTC_CHECK_TORCH=0: the PyTorch torch.compile comparison"
    else
        run 180 "tests/reference/bench_gpu.py: r10-medium-x01 under torch.compile" - \
            python3 tests/reference/bench_gpu.py models/r10-medium-x01.yaml --gptc build/gptc \
            --tokens-per-gpu 65536 --steps 20 --profile 3 --out "$results/torch.json"
        if [ -s "$results/torch.json" ] && [ -s "$results/gptc-bench.json" ]; then
            local g t gbs
            gbs=$(peak_gbs)
            g=$(json_field "$results/gptc-bench.json" ms_per_step)
            t=$(json_field "$results/torch.json" mean_step_ms)
            awk -v g="$g" -v t="$t" 'BEGIN { printf "ratio: torch.compile %.2f ms/step / gptc %.2f ms/step = %.2fx\n", t, g, t / g }'
            echo "the two profiles by class (3 forward+backward passes each; rates against 989 TFLOP/s, $gbs GB/s):"
            python3 tests/reference/compare_profiles.py "$results/gptc-bench.json" "$results/torch.json" \
                --peak-gbs "$gbs" || bad "compare_profiles.py"
        fi
    fi
}

# Whether step $1 is to run: every step, unless GPTC_STEPS names some.
want() { [ -z "${GPTC_STEPS:-}" ] || [[ " $GPTC_STEPS " == *" $1 "* ]]; }

versions
deps
build
for s in cuda_tests kernels train_step nccl run_record trainer timing warpgroups tune variant torch_compare; do
    want "$s" && "$s"
done
printf '\ngpu-check: %d passed, %d failed, %d skipped, %d not yet, in %ds\n' "$passed" "$failed" "$skipped" \
    "$notyet" $(($(date +%s) - t0))
[ "$failed" -eq 0 ]
