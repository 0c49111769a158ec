#!/usr/bin/env bash
# run-cli.sh GPTC_BINARY: the command line's answers to a misspelt command or
# option. Each command names the unknown word and, when a known one is close,
# suggests it ("did you mean '--json'?"), exiting with status 2; when nothing
# is close it suggests nothing. Bad and missing values read alike in every
# command. Nothing here reads a model or trains.
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
usage "train, misspelt as --opt=V" "gptc train: unknown option '--setps=3'; did you mean '--steps'?" \
    train models/tiny.yaml --setps=3
quiet "train --jsn: no train option is near it" train models/tiny.yaml --jsn
quiet "check: an option far from any" check models/tiny.yaml --colour
[ ! -e "$tmp/d" ] && pass "a bad option makes no output folder" || fail "data made $tmp/d"

# One parser (cli/cli.h): a bad or missing value reads the same in every
# command, however the option was written.
usage "train: a bad count" "gptc train: --threads expects a whole number from 1 up, found 'x'" \
    train models/tiny.yaml --threads=x
usage "bench: a bad count" "gptc bench: --steps expects a whole number from 1 up, found '0'" \
    bench models/tiny.yaml --steps 0
usage "compile: a bad count" "gptc compile: -j expects a whole number from 1 to 64, found '65'" \
    compile models/tiny.yaml -j65
usage "data: a bad count" "gptc data: --shard-tokens expects a whole number from 1 to 2147483647, found '0'" \
    data x.txt -o "$tmp/d" --shard-tokens=0
usage "train: a missing value" "gptc train: --run-dir needs a directory" train models/tiny.yaml --run-dir
usage "export: a missing value" "gptc export: --output needs a file name" export x.bin --output
usage "check: a missing --set" "gptc check: --set needs KEY=VALUE" check models/tiny.yaml --set
usage "check: a flag given a value" "gptc check: --json takes no value, found 'yes'" check models/tiny.yaml --json=yes
usage "keys: an argument" "gptc keys: unexpected argument 'x'" keys x

finish
