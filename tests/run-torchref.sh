#!/usr/bin/env bash
# run-torchref.sh GPTC: the PyTorch GPU benchmark (tests/reference/bench_gpu.py)
# run on the CPU with Debian's torch, so that it is known to work before it
# first meets a GPU:
#   - a short benchmark of models/tiny.yaml (2 timed steps, 1024 tokens) with
#     --check exits 0 and prints a well-formed result line: positive times,
#     tokens/s and MFU consistent with gptc check's FLOPs, finite losses, the
#     same object in --out;
#   - its check against gptc_ref.py passes (fp32 loss, logits, gradients and
#     one optimizer step against float64; attention tiles against the token
#     rule; the split16 master round-trip) on tiny.yaml and tiny-x01.yaml;
#   - --profile sorts the passes' operators into gptc bench --profile's
#     classes, and its count of attention's useful work equals the mask
#     rule's, pair by pair; compare_profiles.py prints it beside gptc's;
#   - bad input is a clear error with a non-zero status.
# Without torch in /usr/bin/python3 it says "skipped: no torch", and under
# CI fails (tests/lib.sh's missing).
. "$(dirname "$0")/lib.sh" torchref "$@"
py=/usr/bin/python3
bench=tests/reference/bench_gpu.py
if ! "$py" -c 'import torch' 2>/dev/null; then
    missing "no torch in $py, so no check of bench_gpu.py" "make test-deps installs Debian's python3-torch"
    finish
fi

tokens=1024 steps=2
"$bin" check models/tiny.yaml --json > "$tmp/tiny.json"
if "$py" "$bench" models/tiny.yaml --gptc "$bin" --device cpu --no-compile --steps $steps --warmup 1 \
        --tokens-per-gpu $tokens --check --check-tokens 512 --profile 1 --out "$tmp/result.json" > "$tmp/out" \
        2> "$tmp/err"; then
    pass "bench_gpu.py --check on tiny.yaml runs ($(grep -c '^bench_gpu: check' "$tmp/err") check lines)"
else
    fail "bench_gpu.py --check on tiny.yaml: exit status $?" "$(tail -n 15 "$tmp/err")"
fi
if problems=$("$py" tests/reference/check_bench_result.py "$tmp/out" "$tmp/result.json" "$tmp/tiny.json" \
        $tokens $steps 2>&1); then
    pass "the result line is well-formed and the check against gptc_ref passed"
else
    fail "the result" "$problems"
fi

# The profile by class: every class there, GEMMs and cross-entropy timed, and the
# attention FLOPs' pair count against the mask rule pair by pair.
if problems=$(RESULT="$tmp/result.json" TINY="$tmp/tiny.json" "$py" - 2>&1 <<'EOF'
import json, os, sys
sys.argv = ["bench_gpu.py", "models/tiny.yaml"]
sys.path.insert(0, "tests/reference")
import bench_gpu as B
import torch
prof = json.load(open(os.environ["RESULT"]))["profile"]
assert list(prof) == list(B.CLASSES), list(prof)
assert all(prof[c]["ms"] >= 0 for c in prof) and prof["GEMMs"]["ms"] > 0 and prof["softcap + cross-entropy"]["ms"] > 0, prof
assert prof["GEMMs"]["flops"] > 0 and prof["attention backward"]["flops"] == 2 * prof["attention forward"]["flops"] > 0, prof
cfg = B.R.Config(json.load(open(os.environ["TINY"]))["spec"])
gen = torch.Generator().manual_seed(3)
ids, _ = B.synthetic_batch(cfg, 512, 40, gen)
docs = B.document_ids(ids, cfg.eot)
for windows in ([8, 4], [1, 0], [3, 1]):
    want = sum(int(B.token_mask(docs, max(1, windows[0] if cfg.long[i] else windows[1]), cfg.bs).sum())
               for i in range(cfg.L) if cfg.attn[i]) * cfg.heads * cfg.hd
    got = B.attention_pairs(cfg, ids, windows)
    assert got == want, (windows, got, want)
EOF
); then
    pass "--profile: every class, and attention's pair count equals the mask rule's"
else
    fail "bench_gpu.py --profile" "$problems"
fi

# Side by side with a gptc profile (made up: a step of 2.5 ms, the GEMMs at
# 2 ms for 8 GFLOP, 2 GB of elementwise traffic in 1 ms, an optimizer of
# 1.5 ms); PyTorch's elementwise GB/s is gptc's bytes over its time (marked *).
printf '{"ms_per_step": 2.5, "opt_ms": 1.5, "profile": {"GEMMs": {"ms": 2, "bytes": 1e6, "flops": 8e9}, "elementwise": {"ms": 1, "bytes": 2e9, "flops": 0}}}\n' \
    > "$tmp/gptc.json"
if "$py" tests/reference/compare_profiles.py "$tmp/gptc.json" "$tmp/result.json" > "$tmp/cmp" 2>&1 &&
        grep -q '^GEMMs  *2.000 4 TFLOP/s (0.4%)' "$tmp/cmp" && grep -q '^elementwise  *1.000 2e+03 GB/s (42%) ' "$tmp/cmp" &&
        grep -Eq '^elementwise .* [0-9.e+]+ GB/s\* ' "$tmp/cmp" && grep -q '^forward+backward  *3.000' "$tmp/cmp" &&
        grep -Eq '^optimizer \(timed steps\)  *1.500  *[0-9.]+' "$tmp/cmp" && grep -q '^step  *' "$tmp/cmp" &&
        grep -Eq '^ms/step  *2.50  *[0-9.]+ ' "$tmp/cmp"; then
    pass "compare_profiles.py puts the two profiles side by side"
else
    fail "compare_profiles.py" "$(cat "$tmp/cmp")"
fi
# Two gptc profiles (gpu-check's variant step): named columns, GB/s on both.
printf '{"profile": {"GEMMs": {"ms": 4, "bytes": 1e6, "flops": 8e9}, "elementwise": {"ms": 2, "bytes": 2e9, "flops": 0}}}\n' \
    > "$tmp/gptc2.json"
if "$py" tests/reference/compare_profiles.py "$tmp/gptc.json" "$tmp/gptc2.json" --names new old > "$tmp/cmp2" 2>&1 &&
        grep -q '^class  *new ms  *new rate  *old ms  *old rate  *new/old' "$tmp/cmp2" &&
        grep -q '^elementwise  *1.000 2e+03 GB/s .*2.000 1e+03 GB/s .* 0.50$' "$tmp/cmp2"; then
    pass "compare_profiles.py --names puts two gptc profiles side by side"
else
    fail "compare_profiles.py --names" "$(cat "$tmp/cmp2")"
fi

if "$py" "$bench" models/tiny-x01.yaml --gptc "$bin" --device cpu --no-compile --check-only --check-tokens 512 \
        --tokens-per-gpu $tokens > "$tmp/x01.out" 2> "$tmp/x01.err" \
        && grep -q '^CHECK_GPU .*"passed": true' "$tmp/x01.out"; then
    pass "the check passes on tiny-x01.yaml (two input tables)"
else
    fail "the check on tiny-x01.yaml" "$(tail -n 15 "$tmp/x01.err")"
fi

# refuses NAME FRAGMENT ARGS...: a non-zero status, FRAGMENT in the output, no traceback.
refuses() {
    local name=$1 frag=$2
    shift 2
    "$py" "$bench" "$@" > "$tmp/bad.out" 2>&1
    local got=$?
    if [ "$got" -eq 0 ]; then
        fail "$name: exit status 0" "$(tail -n 5 "$tmp/bad.out")"
    elif ! grep -qF -- "$frag" "$tmp/bad.out"; then
        fail "$name: no line contains: $frag" "$(tail -n 5 "$tmp/bad.out")"
    elif grep -q Traceback "$tmp/bad.out"; then
        fail "$name: a traceback" "$(tail -n 5 "$tmp/bad.out")"
    else
        pass "$name"
    fi
}
refuses "a missing model file is an error" "cannot read the spec" missing.yaml --gptc "$bin" --device cpu
refuses "--tokens-per-gpu 0 is an error" "--tokens-per-gpu must be at least 1" models/tiny.yaml \
    --gptc "$bin" --device cpu --tokens-per-gpu 0
if "$py" -c 'import torch, sys; sys.exit(torch.cuda.is_available())'; then
    refuses "--device cuda without a GPU is an error" "no CUDA device" models/tiny.yaml --gptc "$bin"
fi
finish
