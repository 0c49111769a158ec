#!/usr/bin/env bash
# run-bad-files.sh GPTC: the bad-file corpus (tests/bad-files/, listed with
# the message each must give in tests/bad-files/EXPECT) through the commands
# that read such files:
#   ckpt/FILE    gptc export FILE -o OUT.safetensors
#   shard/FILE   gptc train tests/train/micro.yaml with FILE as its
#                training and validation data
#   vocab/FILE   gptc data --tokenizer gpt2 --vocab FILE TEXT -o DIR
# Each must exit with status 2, print FILE's path followed by its message,
# report nothing under a sanitizer, and write nothing (no safetensors file,
# no checkpoint, no shard). Every file of the corpus must be listed, and
# every listed file must exist. Ends with "bad-files: N passed, N failed".
. "$(dirname "$0")/lib.sh" bad-files "$@"

corpus=tests/bad-files
printf 'a few words to tokenize\n' > "$tmp/text.txt"

# run_case N KIND/FILE MESSAGE: the case's command, then a check that it
# wrote nothing.
run_case() {
    local n=$1 file=$2 msg=$3 path=$corpus/$2 out=$tmp/case$1
    case $file in
        ckpt/*)
            expect 2 "$file" "$path$msg" -- "$bin" export "$path" -o "$out.safetensors"
            [ ! -e "$out.safetensors" ] || fail "$file: the export wrote $out.safetensors" ;;
        shard/*)
            expect 2 "$file" "$path$msg" -- "$bin" train tests/train/micro.yaml --backend ref \
                --no-progress --run-dir "$out" \
                --set "train.data.train=$path" --set "train.data.val=$path"
            [ ! -e "$out/ckpt.bin" ] || fail "$file: the run wrote a checkpoint" ;;
        vocab/*)
            expect 2 "$file" "$path$msg" -- "$bin" data --tokenizer gpt2 --vocab "$path" \
                "$tmp/text.txt" -o "$out" --quiet
            [ -z "$(ls "$out" 2> /dev/null)" ] || fail "$file: gptc data wrote $(ls "$out")" ;;
        *) fail "EXPECT: $file is not under ckpt/, shard/ or vocab/" ;;
    esac
}

declare -A listed=()
n=0
while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    file=$(sed -E 's/[[:space:]]*\|.*//' <<< "$line")
    msg=$(sed -E 's/^[^|]*\|[[:space:]]*//; s/[[:space:]]+$//' <<< "$line")
    if [[ $line != *'|'* ]] || [ -z "$file" ] || [ -z "$msg" ]; then
        fail "EXPECT: not 'KIND/FILE | MESSAGE': $line"
        continue
    fi
    if [ -n "${listed[$file]+x}" ]; then
        fail "EXPECT: $file is listed twice"
        continue
    fi
    listed[$file]=1
    if [ ! -f "$corpus/$file" ]; then
        fail "EXPECT lists $file, which does not exist"
        continue
    fi
    n=$((n + 1))
    run_case "$n" "$file" "$msg"
done < "$corpus/EXPECT"

for f in "$corpus"/*/*; do
    [ -n "${listed[${f#"$corpus"/}]+x}" ] || fail "$f is not listed in $corpus/EXPECT"
done
finish
