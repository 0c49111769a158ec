#!/usr/bin/env bash
# run-fuzz.sh [--long SECONDS]: runs every libFuzzer target of tests/fuzz/
# (build/fuzz_NAME, built by `make fuzz` with ASan and UBSan) from its seed
# corpus, and checks that none found anything.
#
#   load   the model loader (YAML): seeds models/*.yaml and tests/bad/*.yaml
#   ckpt   the checkpoint reader    seeds: build/fuzz_ckpt --seeds=DIR
#   shard  the token-shard loader   seeds: build/fuzz_shard --seeds=DIR
#   vocab  the GPT-2 ranks reader   seeds: build/fuzz_vocab --seeds=DIR
#   safetensors  what `gptc check FILE.safetensors` reads: the header and
#          the spec in its metadata   seeds: build/fuzz_safetensors --seeds=DIR
#
# By default (`make test`) each runs for 8 seconds in a scratch corpus;
# with --long (`make test-long`) for SECONDS each, in build/fuzz-corpus/NAME,
# which keeps what it found for the next run. A crash, leak, timeout (10 s
# per input), memory blow-up (2 GB) or UBSan report fails the target, and
# libFuzzer keeps the input in build/fuzz-crashes/ (rerun it with
# `build/fuzz_NAME FILE`); once fixed, it belongs in tests/bad-files/ with
# its expected message (see tests/bad-files/EXPECT).
#
# Prints one line per target (runs, speed, libFuzzer's final coverage) and
# ends with "fuzz: N passed, N failed"; without clang's libFuzzer it says
# "skipped: no libFuzzer" instead (fails under CI=true). Exits 1 if anything
# failed.
. "$(dirname "$0")/lib.sh" fuzz --no-binary

seconds=8 corpus_root=
case $# in
    0) ;;
    2) [ "$1" = --long ] && seconds=$2 corpus_root=build/fuzz-corpus ;;
esac
if [ $# -ne 0 ] && [ -z "$corpus_root" ] || ! [ "$seconds" -gt 0 ] 2> /dev/null; then
    echo "usage: $0 [--long SECONDS]" >&2
    exit 2
fi

# The same test as the Makefile's HAVE_LIBFUZZER.
have_libfuzzer() { [ -f "$(clang -print-file-name="libclang_rt.fuzzer-$(uname -m).a" 2> /dev/null)" ]; }
# Without libFuzzer: a skip on a developer's machine, a failure under CI=true.
have_libfuzzer || { missing "no libFuzzer" "clang and libclang-rt-dev; scripts/setup.sh installs them"; finish; }

mkdir -p build/fuzz-crashes

# seed NAME DIR: the target's seed corpus into DIR.
seed() {
    if [ "$1" = load ]; then
        cp models/*.yaml tests/bad/*.yaml "$2"/
    else
        "build/fuzz_$1" --seeds="$2"
    fi
}

# Each input at most this long: above the largest seed (a checkpoint of
# fuzz_ckpt.c's model is 25 KB), and short enough to mutate quickly.
max_len() { case $1 in load) echo 4096 ;; ckpt | safetensors) echo 32768 ;; *) echo 8192 ;; esac; }

# The targets run side by side, one per core; their results follow in order.
targets=(load ckpt shard vocab safetensors)
slots=$(nproc 2> /dev/null || echo 2)
declare -A pid=()
for name in "${targets[@]}"; do
    bin=build/fuzz_$name
    if [ ! -x "$bin" ]; then
        fail "$bin is missing: build it with 'make fuzz'"
        continue
    fi
    dir=${corpus_root:-$tmp}/$name
    mkdir -p "$dir"
    if ! seed "$name" "$dir" > "$tmp/$name.seed" 2>&1; then
        fail "$name: the seeds" "$(tail -n 15 "$tmp/$name.seed")"
        continue
    fi
    dict=()
    [ "$name" = load ] && dict=(-dict=tests/fuzz/yaml.dict)
    while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do sleep 0.2; done
    # len_control=0: mutate at full length from the start, since the seeds
    # are whole files that a shorter cut only truncates.
    nice "$bin" -max_total_time="$seconds" -max_len="$(max_len "$name")" -len_control=0 \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="build/fuzz-crashes/$name-" \
        ${dict[@]+"${dict[@]}"} "$dir" > "$tmp/$name.log" 2>&1 &
    pid[$name]=$!
done
for name in "${targets[@]}"; do
    [ -n "${pid[$name]+x}" ] || continue
    wait "${pid[$name]}"
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$tmp/$name.log" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ -z "$done_line" ]; then
        fail "$name: libFuzzer exited with status $rc" \
            "$(grep -E 'ERROR|SUMMARY|runtime error|^fuzz:|written to' "$tmp/$name.log" | head -n 12)"
        continue
    fi
    took=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$tmp/$name.log" | tail -n 1)
    runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+).*/\1 runs in \2 s/' <<< "$took")
    cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<< "$done_line")
    corp=$(sed -E 's/.* corp: ([0-9]+)\/.*/\1/' <<< "$done_line")
    speed=$(sed -E 's/.* exec\/s: ([0-9]+).*/\1/' <<< "$done_line")
    pass "$name: $runs ($speed/s), cov $cov, corpus $corp, nothing found"
done
finish
