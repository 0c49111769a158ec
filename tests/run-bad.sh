#!/usr/bin/env bash
# run-bad.sh GPTC_BINARY: runs the bad-input corpus (tests/bad/) through
# `GPTC_BINARY check` and checks that every case is refused cleanly.
#
# tests/bad/EXPECT has one line per case, `FILE | FRAGMENT [| EXTRA ARGS]`
# (see its header). For each case the binary runs as
#     GPTC_BINARY check tests/bad/FILE EXTRA...
# from the repository root, under a 20 s timeout, and must:
#   - exit with status 2 (a timeout, a signal or any other status fails);
#   - print nothing on stdout;
#   - print an error line with a location, `tests/bad/F:LINE:COL: error: `,
#     `--set #N:LINE:COL: error: `, or for problems with the file as a whole
#     `tests/bad/F: error: `;
#   - print FRAGMENT on one of its `error:` lines;
#   - print no sanitizer report (ASan, LSan, UBSan).
# Every tests/bad/*.yaml must be listed in EXPECT, and every file EXPECT
# lists must exist. Prints one line per failure (with the case's stderr
# below it) and a summary line; exits 1 if anything failed, 2 on bad usage.
# Needs only bash and coreutils.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 GPTC_BINARY" >&2
    exit 2
fi
bin_arg=$1
case $bin_arg in
    /*) bin=$bin_arg ;;
    */*) bin=$PWD/$bin_arg ;;
    *) bin=$(command -v -- "$bin_arg") || bin=$PWD/$bin_arg ;;
esac
if [ ! -x "$bin" ] || [ -d "$bin" ]; then
    echo "run-bad.sh: '$bin_arg' is not an executable file" >&2
    exit 2
fi

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd) || exit 2
cd -- "$root" || exit 2
bad=tests/bad
manifest=$bad/EXPECT
if [ ! -f "$manifest" ]; then
    echo "run-bad.sh: $manifest is missing" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-bad.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

TIMEOUT=${RUN_BAD_TIMEOUT:-20}
passed=0
failed=0

trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    printf '%s' "$s"
}

# fail NAME REASON [STDERR_FILE]: one line per failure, then the stderr.
fail() {
    failed=$((failed + 1))
    printf 'FAIL %s: %s\n' "$1" "$2"
    if [ $# -ge 3 ] && [ -s "$3" ]; then
        head -n 40 -- "$3" | while IFS= read -r l; do printf '    | %s\n' "$l"; done
    fi
}

declare -A listed=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line%$'\r'}
    case $(trim "$line") in '' | '#'*) continue ;; esac
    if [[ $line != *'|'* ]]; then
        fail "EXPECT:$lineno" "not of the form FILE | FRAGMENT [| EXTRA ARGS]: $line"
        continue
    fi
    file=$(trim "${line%%|*}")
    rest=${line#*|}
    args_text=""
    if [[ $rest == *'|'* ]]; then
        args_text=$(trim "${rest#*|}")
        rest=${rest%%|*}
    fi
    frag=$(trim "$rest")
    name="$file${args_text:+ $args_text}"
    if [ -z "$file" ] || [ -z "$frag" ]; then
        fail "EXPECT:$lineno" "empty FILE or FRAGMENT: $line"
        continue
    fi
    if [ -n "${listed[$file]+x}" ]; then
        fail "EXPECT:$lineno" "$file is listed twice (first on line ${listed[$file]})"
        continue
    fi
    listed[$file]=$lineno
    if [ ! -f "$bad/$file" ]; then
        fail "$name" "listed in EXPECT (line $lineno) but $bad/$file does not exist"
        continue
    fi
    read -r -a args <<<"$args_text"

    out=$tmp/out err=$tmp/err
    # The group's 2>/dev/null keeps bash's own "Segmentation fault" notice
    # out of the report; the case's stderr goes to $err.
    {
        timeout -k 5 "$TIMEOUT" "$bin" check "$bad/$file" ${args[@]+"${args[@]}"} \
            </dev/null >"$out" 2>"$err"
    } 2>/dev/null
    rc=$?

    reasons=()
    if [ "$rc" -eq 124 ]; then
        reasons+=("timed out after ${TIMEOUT} s (status 124)")
    elif [ "$rc" -eq 137 ]; then
        reasons+=("killed by SIGKILL (status 137): it ignored the timeout's SIGTERM, or ran out of memory")
    elif [ "$rc" -gt 128 ]; then
        sig=$(kill -l $((rc - 128)) 2>/dev/null) || sig="signal $((rc - 128))"
        reasons+=("killed by SIG${sig#SIG} (status $rc)")
    elif [ "$rc" -ne 2 ]; then
        reasons+=("exit status $rc, expected 2")
    fi
    if [ -s "$out" ]; then
        reasons+=("stdout is not empty ($(wc -c <"$out") bytes)")
    fi
    sanitizer="" located="" found=""
    loc_re='^(tests/bad/[^:]+|--set #[0-9]+|gptc)(:[0-9]+:[0-9]+)?: error: '
    while IFS= read -r l || [ -n "$l" ]; do
        case $l in
            *AddressSanitizer* | *LeakSanitizer* | *UndefinedBehaviorSanitizer* | *'runtime error:'*)
                sanitizer=1 ;;
        esac
        [[ $l =~ $loc_re ]] && located=1
        [[ $l == *': error: '* && $l == *"$frag"* ]] && found=1
    done <"$err"
    [ -n "$sanitizer" ] && reasons+=("sanitizer report in stderr")
    [ -z "$located" ] && reasons+=("no 'FILE:LINE:COL: error: ' (or 'FILE: error: ') line in stderr")
    [ -z "$found" ] && reasons+=("no error line contains: $frag")

    if [ ${#reasons[@]} -eq 0 ]; then
        passed=$((passed + 1))
    else
        msg=${reasons[0]}
        for r in "${reasons[@]:1}"; do msg+="; $r"; done
        fail "$name" "$msg" "$err"
    fi
done <"$manifest"

# Every case file must be in the manifest (parents/ holds helpers, not cases).
for f in "$bad"/*.yaml; do
    [ -e "$f" ] || continue
    base=${f#"$bad"/}
    [ -n "${listed[$base]+x}" ] || fail "$base" "not listed in $manifest"
done

echo "bad-input ($bin_arg): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
