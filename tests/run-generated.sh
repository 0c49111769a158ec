#!/usr/bin/env bash
# run-generated.sh GPTC_BINARY: generated/ is what GPTC_BINARY emits today.
#
# For every models/NAME.yaml, `GPTC_BINARY compile --no-compile` writes into a
# scratch folder, which must equal generated/NAME/ file for file and byte for
# byte (diff -r). Also fails on a generated/NAME/ without a models/NAME.yaml.
# A difference prints the diff (its first 60 lines per model) and the command
# that refreshes generated/: scripts/regen-generated.sh; commit its result
# with the change that caused it, so that a reviewer sees exactly what
# changed in the emitted code. No NVRTC needed.
# Ends with `generated: N passed, N failed`; exit 1 if any failed, 2 on bad
# usage.
. "$(dirname "$0")/lib.sh" generated "$@"
shopt -s nullglob

for m in models/*.yaml; do
    name=$(basename "$m" .yaml)
    if ! log=$("$bin" compile "$m" --no-compile -o "$tmp/$name" 2>&1); then
        fail "$m: gptc compile --no-compile failed" "$log"
    elif [ ! -d "generated/$name" ]; then
        fail "generated/$name is missing"
    elif d=$(diff -r "generated/$name" "$tmp/$name"); then
        pass "generated/$name is what gptc compile writes for $m"
    else
        # The scratch path means nothing to the reader: name it for what it is.
        fail "generated/$name differs from what gptc compile writes for $m (< committed, > now)" \
            "$(printf '%s\n' "$d" | sed "s#$tmp/#(gptc now) #g" | head -n 60)"
    fi
done
for d in generated/*/; do
    name=$(basename "$d")
    [ -f "models/$name.yaml" ] || fail "generated/$name has no models/$name.yaml"
done

if [ "$failed" -gt 0 ]; then
    echo "run-generated: refresh generated/ with 'scripts/regen-generated.sh $1'," \
        "review 'git diff generated', and commit it"
fi
finish
