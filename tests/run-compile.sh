#!/usr/bin/env bash
# run-compile.sh GPTC_BINARY: `gptc compile` on every model in models/.
#
# For each models/*.yaml (the tiny models and the full-size records):
# - it compiles (exit 0) for the default architectures, sm_90a and sm_80,
#   from an empty cache, and the report shows no spill;
# - kernels.cu, kernels.h and kernels_sim.cc are byte-identical across two runs;
# - a second compile is answered from the cache. Both times are printed,
#   never asserted (CI machines are noisy).
# And once: the files are written from any directory (the templates are in
# the binary) to generated/NAME by default; without NVRTC, compile says so
# and exits 1 while --no-compile still works; bad usage and a bad model exit 2.
# Where NVRTC is missing the compile checks are skipped, with a message, and
# not counted (under CI: a failure). Ends with `compile: N passed, N
# failed`; exit 1 if any failed.
. "$(dirname "$0")/lib.sh" compile "$@"
repo=$PWD
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# Is NVRTC there? --no-compile needs nothing; a real compile says if it is missing.
have_nvrtc=1
probe=$(GPTC_CACHE_DIR=$tmp/cache-probe "$bin" compile models/tiny.yaml -o "$tmp/probe" --arch sm_80 2>&1)
if [[ $probe == *"NVRTC not found"* ]]; then
    have_nvrtc=0
    missing "no NVRTC, so no compile checks" "$(printf %s "$probe" | head -1)"
fi

# ---- every model ----

for m in models/*.yaml; do
    name=$(basename "$m" .yaml)
    out=$tmp/$name
    if [ $have_nvrtc -eq 1 ]; then
        t0=$(now)
        log=$(GPTC_CACHE_DIR=$tmp/cache-$name "$bin" compile "$m" -o "$out/a" --report 2>&1)
        rc=$?
        t1=$(now)
        if [ $rc -eq 0 ] && [[ $log == *"compiled cleanly for sm_90a sm_80"* ]]; then
            pass "$m: compiles cleanly for sm_90a and sm_80"
        else
            fail "$m: compile exits $rc" "$log"
        fi
        spills=$(printf '%s\n' "$log" | awk '$2 ~ /^sm_/ && $5 != "0/0"')
        rows=$(printf '%s\n' "$log" | awk '$2 ~ /^sm_/' | wc -l)
        if [ "$rows" -gt 0 ] && [ -z "$spills" ]; then
            pass "$m: no spills in $rows report rows"
        else
            fail "$m: spills, or no report rows" "$log"
        fi
        t2=$(now)
        warm=$(GPTC_CACHE_DIR=$tmp/cache-$name "$bin" compile "$m" -o "$out/b" 2>&1)
        rc=$?
        t3=$(now)
        if [ $rc -eq 0 ] && [[ $warm == *"(2 of 2 from the cache)"* ]]; then
            pass "$m: the second compile comes from the cache"
        else
            fail "$m: second compile exits $rc, or not from the cache" "$warm"
        fi
        echo "time  $m: cold $(elapsed "$t0" "$t1") s, warm $(elapsed "$t2" "$t3") s (whole command)"
    else
        "$bin" compile "$m" -o "$out/a" --no-compile >/dev/null 2>&1
        "$bin" compile "$m" -o "$out/b" --no-compile >/dev/null 2>&1
    fi
    if cmp -s "$out/a/kernels.cu" "$out/b/kernels.cu" && cmp -s "$out/a/kernels.h" "$out/b/kernels.h" &&
       cmp -s "$out/a/kernels_sim.cc" "$out/b/kernels_sim.cc"; then
        pass "$m: kernels.cu, kernels.h and kernels_sim.cc are the same in two runs"
    else
        fail "$m: kernels.cu, kernels.h or kernels_sim.cc differ between two runs (or are missing)"
    fi
done

# ---- once ----

# attn_fwd, attn_bwd_dkdv and attn_bwd_dq on warpgroups, as a tuning
# database chooses them for the records' head_dim 128 at the widest tiles,
# in 2 stages, and in 3 with attn_fwd's products overlapping its softmax:
# wgmma on sm_90a, the portable twin on sm_80, all without a spill and
# without a warning (ptxas warns where it must serialize the asynchronous
# products, which compile treats as an error; the kernels' tests run them
# on sim).
if [ $have_nvrtc -eq 1 ]; then
    version=$("$bin" --version | sed -n 's/^gptc \([^ ]*\).*/\1/p')
    for wg in "2 222" "3 322"; do
        read -r stages tag <<<"$wg"
        printf 'gptc-tune 1\nvalidator gptc %s\nchoice attention - h8_d128 %s\n' "$version" \
            "threads=256 vec=8 tile=128 fwd_kn=128 dq_kn=32 dkdv_qn=32 minb=1 dq_src=2 stages=$stages fwd_mma=${tag:0:1} dkdv_mma=2 dq_mma=2" \
            >"$tmp/wg$tag.db"
        log=$(GPTC_CACHE_DIR=$tmp/cache-wg "$bin" compile models/r10-medium-x01.yaml --db "$tmp/wg$tag.db" \
            -o "$tmp/wg$tag" --report 2>&1)
        rc=$?
        # each kernel's name ends in the tag of its own knobs, g its form
        rows=$(printf '%s\n' "$log" | awk '$1 ~ /^attn_(fwd|bwd_dkdv|bwd_dq)_.*g[23]$/ && $5 == "0/0"' | wc -l)
        if [ $rc -eq 0 ] && [[ $log == *"compiled cleanly for sm_90a sm_80"* ]] && [ "$rows" -eq 6 ]; then
            pass "attention's three kernels on warpgroups ($tag, $stages stages) compile for sm_90a and sm_80 without a spill"
        else
            fail "attention on warpgroups ($tag): compile exits $rc, or spills" "$log"
        fi
    done
fi

mkdir -p "$tmp/elsewhere"
log=$(cd "$tmp/elsewhere" && "$bin" compile "$repo/models/tiny-x01.yaml" --no-compile 2>&1)
if [ -f "$tmp/elsewhere/generated/tiny-x01/kernels.cu" ] && [ -f "$tmp/elsewhere/generated/tiny-x01/kernels.h" ] &&
    head -1 "$tmp/elsewhere/generated/tiny-x01/kernels.cu" | grep -q '^/\* Generated by gptc .* from tiny-x01.yaml: do not edit\.$' &&
    grep -q 'x0_mix_fwd_t2_d128' "$tmp/elsewhere/generated/tiny-x01/kernels.cu"; then
    pass "compile from another directory writes generated/NAME with the templates built in"
else
    fail "compile from another directory" "$log"
fi

log=$(GPTC_NVRTC_LIB=/nonexistent/libnvrtc.so "$bin" compile models/tiny.yaml -o "$tmp/nonvrtc" 2>&1)
rc=$?
if [ $rc -eq 1 ] && [[ $log == *"NVRTC not found"* ]] && [ -f "$tmp/nonvrtc/kernels.cu" ]; then
    pass "without NVRTC: a clear message, the files, exit status 1"
else
    fail "without NVRTC: exit status $rc" "$log"
fi
log=$(GPTC_NVRTC_LIB=/nonexistent/libnvrtc.so "$bin" compile models/tiny.yaml -o "$tmp/nonvrtc2" --no-compile 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -f "$tmp/nonvrtc2/kernels.h" ]; then
    pass "without NVRTC: --no-compile works"
else
    fail "without NVRTC: --no-compile exits $rc" "$log"
fi

# usage NAME WANTED_MESSAGE ARGS...: exit status 2 and the message on stderr.
usage() {
    local name=$1 want=$2
    shift 2
    local err rc
    err=$("$bin" compile "$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 2 ] && [[ $err == *"$want"* ]]; then
        pass "$name: exit status 2"
    else
        fail "$name: exit status $rc" "$err"
    fi
}
usage "no model" "no model file given"
usage "unknown architecture" "unknown architecture 'sm_70'" models/tiny.yaml --arch sm_90a,sm_70 --no-compile
usage "bad -j" "-j expects a whole number from 1 to 64, found '0'" models/tiny.yaml -j 0 --no-compile
usage "unknown option" "unknown option '--fast'" models/tiny.yaml --fast
usage "invalid model" "is not a valid model" models/tiny.yaml --set model.dim=abc --no-compile
if "$bin" compile --help | grep -q '^Usage: gptc compile MODEL.yaml'; then
    pass "compile --help"
else
    fail "compile --help"
fi

finish
