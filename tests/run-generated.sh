#!/usr/bin/env bash
# run-generated.sh GPTC_BINARY: generated/ is what GPTC_BINARY emits today
# (generated/README.md).
#
# Every models/NAME.yaml goes through `GPTC_BINARY compile --no-compile`
# into a scratch folder. The models generated/FULL lists must equal
# generated/NAME/ file for file and byte for byte (diff -r); every model's
# files must hash as generated/SHA256SUMS says; and generated/ holds no
# other model. A difference prints the diff (its first 60 lines per model)
# and the command that refreshes generated/: scripts/regen-generated.sh;
# commit its result with the change that caused it, so that a reviewer
# sees exactly what changed in the emitted code. No NVRTC needed.
# Ends with `generated: N passed, N failed`; exit 1 if any failed, 2 on bad
# usage.
. "$(dirname "$0")/lib.sh" generated "$@"
. scripts/generated-lib.sh
shopt -s nullglob

if ! generate_all "$bin" "$tmp" 2> "$tmp/err"; then
    fail "gptc compile --no-compile" "$(cat "$tmp/err")"
    finish
fi
for m in models/*.yaml; do
    name=$(basename "$m" .yaml)
    kept_whole "$name" || continue
    if [ ! -d "generated/$name" ]; then
        fail "generated/$name is missing (generated/FULL lists it)"
    elif d=$(diff -r "generated/$name" "$tmp/$name"); then
        pass "generated/$name is what gptc compile writes for $m"
    else
        # The scratch path means nothing to the reader: name it for what it is.
        fail "generated/$name differs from what gptc compile writes for $m (< committed, > now)" \
            "$(printf '%s\n' "$d" | sed "s#$tmp/#(gptc now) #g" | head -n 60)"
    fi
done
if d=$(diff generated/SHA256SUMS <(hashes "$tmp")); then
    pass "generated/SHA256SUMS holds the hashes of every model's files ($(ls models/*.yaml | wc -l) models)"
else
    fail "generated/SHA256SUMS differs from the files gptc writes now (< committed, > now)" "$(head -n 40 <<< "$d")"
fi
for d in generated/*/; do
    name=$(basename "$d")
    kept_whole "$name" || fail "generated/$name is not a model generated/FULL lists"
done

if [ "$failed" -gt 0 ]; then
    echo "run-generated: refresh generated/ with 'scripts/regen-generated.sh $1'," \
        "review 'git diff generated', and commit it"
fi
finish
