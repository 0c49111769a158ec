#!/usr/bin/env bash
# run-cli.sh GPTC_BINARY: the command line's answers to a misspelt command or
# option. Each command names the unknown word and, when a known one is close,
# suggests it ("did you mean '--json'?"), exiting with status 2; when nothing
# is close it suggests nothing. Nothing here reads a model or trains.
# Ends with `cli: N passed, N failed`; the exit status is 1 when any failed.
. "$(dirname "$0")/lib.sh" cli "$@"

# usage NAME WANT [ARGS...]: `gptc ARGS` exits 2 and its stderr holds WANT.
usage() {
    local name=$1 want=$2
    shift 2
    expect 2 "$name" "$want" -- "$bin" "$@"
}

# quiet NAME [ARGS...]: `gptc ARGS` exits 2 and suggests nothing.
quiet() {
    local name=$1 err rc
    shift
    err=$("$bin" "$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 2 ] && [[ $err == *"unknown "* ]] && [[ $err != *"did you mean"* ]]; then
        pass "$name"
    else
        fail "$name: exit status $rc" "$err"
    fi
}

usage "a misspelt command" "gptc: unknown command 'trian'; did you mean 'train'?" trian
usage "a misspelt --version" "did you mean '--version'?" --verison
quiet "an unknown command far from any" bogus

usage "check" "gptc check: unknown option '--jsn'; did you mean '--json'?" check models/tiny.yaml --jsn
usage "keys" "gptc keys: unknown option '--markdwn'; did you mean '--markdown'?" keys --markdwn
usage "data" "gptc data: unknown option '--paragraph'; did you mean '--paragraphs'?" \
    data x.txt -o "$tmp/d" --paragraph
usage "compile" "gptc compile: unknown option '--no-compil'; did you mean '--no-compile'?" \
    compile models/tiny.yaml --no-compil
usage "train" "gptc train: unknown option '--threds'; did you mean '--threads'?" \
    train models/tiny.yaml --threds 2
usage "train, an option being added" "did you mean '--accept-changes'?" \
    train models/tiny.yaml --accept-change
usage "export" "gptc export: unknown option '--outptu'; did you mean '--output'?" \
    export x.bin --outptu y.safetensors
usage "bench" "gptc bench: unknown option '--jsn'; did you mean '--json'?" \
    bench models/tiny.yaml --jsn out.json
quiet "train --jsn: no train option is near it" train models/tiny.yaml --jsn
quiet "check: an option far from any" check models/tiny.yaml --colour
[ ! -e "$tmp/d" ] && pass "a bad option makes no output folder" || fail "data made $tmp/d"

finish
