#!/usr/bin/env bash
# bench-ref.sh: training speed of gptc's `ref` executor against the PyTorch
# reference (tests/reference/bench_torch.py) on the same model, the same
# tokens and the same thread count, measured side by side in one run
# (docs/design.md, 'Tests and budgets'), as a ratio ref / torch of median
# tokens per second.
#
# Each round runs `gptc train` for WARMUP + STEPS steps and bench_torch.py for
# as many, alternating which side goes first; warm-up steps are dropped; the
# timed steps of every round are pooled per side and the median step time
# gives tokens/s (tokens per step / median step). gptc's times are the step_ms
# of metrics.jsonl (forward, backward and optimizer; validation excluded).
# Both sides read the batches of the model's training shards from position 0,
# so step i sees the same tokens on both.
#
# Fairness: the same OpenMP thread count for both, and for both BLAS pools.
# gptc links the OpenMP build of OpenBLAS; Debian's torch takes whatever
# libblas.so.3 the alternatives system names (usually the pthread build),
# whose separate thread pool fights torch's OpenMP pool for the cores (about
# 3.5x slower measured on tiny.yaml with 2 threads). By default torch is
# therefore given the same OpenMP build (LD_LIBRARY_PATH), its fastest
# setting here; BENCH_TORCH_BLAS=system keeps the system's choice. Any
# OPENBLAS_CORETYPE (BENCH_CORETYPE) applies to both sides; the core each side
# actually ran is printed.
#
# Usage: scripts/bench-ref.sh [MODEL]            (default models/tiny.yaml)
# Environment (all optional):
#   BENCH_THREADS=2  BENCH_ROUNDS=3  BENCH_STEPS=20  BENCH_WARMUP=3
#   BENCH_SET="KEY=VALUE ..."   model overrides for both sides (gptc --set)
#   BENCH_CORETYPE=NAME         OPENBLAS_CORETYPE for both sides
#   BENCH_TORCH_BLAS=openmp|system
#   GPTC=build/gptc  BENCH_PYTHON=/usr/bin/python3  BENCH_OUT=build/bench/ref-vs-torch.txt
# Writes the report to BENCH_OUT as well as stdout. Exits 0 with
# "skipped: no torch" when BENCH_PYTHON cannot import torch.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-models/tiny.yaml}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-3}
steps=${BENCH_STEPS:-20}
warmup=${BENCH_WARMUP:-3}
gptc=${GPTC:-build/gptc}
py=${BENCH_PYTHON:-/usr/bin/python3}
out=${BENCH_OUT:-build/bench/ref-vs-torch.txt}
torch_blas=${BENCH_TORCH_BLAS:-openmp}
read -r -a sets <<<"${BENCH_SET:-}"

mkdir -p "$(dirname "$out")"
say() { echo "$*" >>"$out.tmp"; }
: >"$out.tmp"
finish() { mv "$out.tmp" "$out"; }

if ! [ -x "$py" ] || ! "$py" -c "import torch" 2>/dev/null; then
    say "bench ref-vs-torch: skipped: no torch ($py cannot import torch; apt-get install python3-torch)"
    cat "$out.tmp"
    finish
    exit 0
fi
[ -x "$gptc" ] || { echo "bench-ref: $gptc not built (make build/gptc)" >&2; exit 2; }

setargs=()
for kv in "${sets[@]+"${sets[@]}"}"; do setargs+=(--set "$kv"); done

# ---- the environment both sides run in ----
multiarch=$(${CC:-gcc} -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
omp_dir=/usr/lib/$multiarch/openblas-openmp
pthread_dir=/usr/lib/$multiarch/openblas-pthread
export OPENBLAS_NUM_THREADS=$threads
[ -n "${BENCH_CORETYPE:-}" ] && export OPENBLAS_CORETYPE=$BENCH_CORETYPE
torch_env=()
notes=()
if [ "$torch_blas" = openmp ] && [ -e "$omp_dir/libblas.so.3" ]; then
    torch_env=(LD_LIBRARY_PATH="$omp_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    torch_blas_desc="OpenBLAS OpenMP build ($omp_dir, via LD_LIBRARY_PATH; the one gptc links)"
else
    sys_blas=$(readlink -f "/usr/lib/$multiarch/libblas.so.3" 2>/dev/null || echo "?")
    torch_blas_desc="the system libblas.so.3 ($sys_blas)"
    [ "$torch_blas" = openmp ] && notes+=("libopenblas0-openmp is not installed: torch uses the system libblas.so.3")
fi
if ! [ -e "$pthread_dir/libblas.so.3" ]; then
    notes+=("libopenblas0-pthread is not installed: Debian's torch would use the reference BLAS by default (about 3 vs 86 GFLOP/s, docs/design.md, 'Tests and budgets'); apt-get install libopenblas0-pthread")
fi
case "${sys_blas:-}" in */blas/libblas.so*)
    notes+=("torch runs its matrix products on the slow reference BLAS ($sys_blas): its numbers are not a fair baseline") ;;
esac

tmp=$(mktemp -d /tmp/gptc-bench-XXXXXX)
trap 'rm -rf "$tmp" "$out.tmp"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
cpu="$cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | sed 's/.*: //'), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/.*: //')$(grep -qm1 avx512f /proc/cpuinfo && echo ', AVX-512' || true))"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

run_gptc() {
    local r=$1 dir=$tmp/gptc-$1
    OPENBLAS_VERBOSE=2 "$gptc" train "$model" --run-dir "$dir" --steps $((warmup + steps)) \
        --threads "$threads" --no-progress "${setargs[@]+"${setargs[@]}"}" >"$tmp/gptc-$r.log" 2>&1 \
        || { cat "$tmp/gptc-$r.log" >&2; echo "bench-ref: gptc train failed" >&2; exit 1; }
    cp "$dir/metrics.jsonl" "$tmp/gptc-$r.jsonl"
    rm -rf "$dir"
}
run_torch() {
    local r=$1
    env "${torch_env[@]+"${torch_env[@]}"}" OPENBLAS_VERBOSE=2 "$py" tests/reference/bench_torch.py \
        "$model" --gptc "$gptc" --threads "$threads" --steps "$steps" --warmup "$warmup" \
        "${setargs[@]+"${setargs[@]}"}" >"$tmp/torch-$r.out" 2>"$tmp/torch-$r.log" \
        || { cat "$tmp/torch-$r.log" >&2; echo "bench-ref: bench_torch.py failed" >&2; exit 1; }
}

echo "bench-ref: $rounds rounds of $((warmup + steps)) steps per side on $model, $threads threads..." >&2
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then run_gptc "$r"; run_torch "$r"; else run_torch "$r"; run_gptc "$r"; fi
    echo "bench-ref: round $r of $rounds done" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

core_of() { grep -h -m1 '^Core:' "$@" 2>/dev/null | sed 's/^Core: //' || true; }
gptc_core=$(core_of "$tmp"/gptc-1.log)
torch_core=$(core_of "$tmp"/torch-1.log)

"$py" - "$tmp" "$rounds" "$warmup" >>"$out.tmp" <<EOF
import json, statistics, sys
tmp, rounds, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g_all, t_all, rows, tj = [], [], [], None
for r in range(1, rounds + 1):
    recs = [json.loads(l) for l in open("%s/gptc-%d.jsonl" % (tmp, r))]
    g = [x["step_ms"] for x in recs if x.get("kind") == "train"][warmup:]
    line = [l for l in open("%s/torch-%d.out" % (tmp, r)) if l.startswith("BENCH_TORCH ")][-1]
    tj = json.loads(line[len("BENCH_TORCH "):])
    t = tj["step_ms"]
    g_all += g
    t_all += t
    rows.append((r, statistics.median(g), statistics.median(t)))
B = tj["tokens_per_step"]
tps = lambda ms: B / (ms / 1e3)
gm, tm = statistics.median(g_all), statistics.median(t_all)
print("ref vs PyTorch: %s%s, %d tokens per step (%d x %d), %s threads"
      % (tj["model"], " --set " + " --set ".join(tj["set"]) if tj["set"] else "", B,
         tj["ranks"], tj["tokens_per_rank"], "$threads"))
print("%d rounds, alternating sides, %d timed steps per side per round (%d warm-up steps dropped)"
      % (rounds, tj["steps"], warmup))
print("data: the training shards from position 0 (the same tokens both sides)")
print()
print("%-8s %14s %14s %14s %14s" % ("round", "ref ms/step", "ref tok/s", "torch ms/step", "torch tok/s"))
for r, g, t in rows:
    print("%-8s %14.1f %14.0f %14.1f %14.0f" % (r, g, tps(g), t, tps(t)))
print("%-8s %14.1f %14.0f %14.1f %14.0f" % ("median", gm, tps(gm), tm, tps(tm)))
print()
print("ratio ref/torch (tokens/s): %.2f" % (tps(gm) / tps(tm)))
print("torch: %s, float32, %s, interop threads 1, AdamW foreach=%s, %s; attention: einsum + masked softmax"
      % (tj["torch"], "set_num_threads(%d)" % tj["threads"], tj["adam_foreach"], tj["compile"]))
print("torch BLAS libraries: %s" % ", ".join(tj["blas_libraries"]))
EOF

say "torch BLAS: $torch_blas_desc"
say "OpenBLAS core: gptc ${gptc_core:-?}, torch ${torch_core:-?}; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}, OPENBLAS_NUM_THREADS=$threads"
say "machine: $cpu, $(nproc) CPUs; load average (1/5/15 min) before $load_before, after $load_after"
case "$gptc_core" in Prescott|Core2|Nehalem|Katmai|Atom|Banias|Northwood)
    if grep -qm1 -E 'avx2|avx512f' /proc/cpuinfo; then
        notes+=("OpenBLAS did not recognise this CPU and runs its generic $gptc_core kernels on both sides; BENCH_CORETYPE=Cooperlake (AVX-512 BF16), SkylakeX (AVX-512) or Haswell (AVX2) measures both with kernels for this CPU")
    fi ;;
esac
busy=$(awk -v a="${load_before%% *}" -v b="${load_after%% *}" -v n="$(nproc)" 'BEGIN{m=a>b?a:b; print (m>n+1)?m:""}')
[ -n "$busy" ] && notes+=("the machine was busy (1-min load average up to $busy on $(nproc) CPUs): rounds may differ; rerun when it is idle for a clean ratio")
for n in "${notes[@]+"${notes[@]}"}"; do say "note: $n"; done
cat "$out.tmp"
finish
echo "bench-ref: written to $out" >&2
