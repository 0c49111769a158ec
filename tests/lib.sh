# lib.sh: what the shell test runners share; each sources it first:
#     . "$(dirname "$0")/lib.sh" NAME "$@"
# It checks the one argument (the gptc binary) and makes it absolute in
# $bin, moves to the repository root, makes a scratch folder $tmp removed on
# exit, and defines pass/fail (fail may take a second argument: text shown
# indented under the failure), expect (a command's exit status and a line
# of its output) and finish, which prints the closing line
# "NAME: N passed, N failed" and exits 1 if any failed.
#
# A runner that takes arguments of its own instead of the gptc binary parses
# them first, then sources this with --no-binary ($bin is then empty):
#     . "$(dirname "$0")/lib.sh" NAME --no-binary
#
# missing, for checks that need something a CPU machine can have but this
# one lacks, is the one rule for such checks; a runner with its own pass
# and fail and no gptc argument (run-sim.sh) takes only it:
#     . "$(dirname "$0")/lib.sh" --missing-only

# missing WHAT HOW: the checks that need WHAT cannot run here. Under CI
# (CI=true, as .ci/run sets) nothing a CPU can run may go unchecked, so
# that is a failure naming WHAT and HOW to install it; elsewhere (a
# developer's machine) a "skipped:" line, counted apart, never as passed.
# Uses the runner's fail. A GPU check without a GPU is not this: it says
# "skipped: ... no GPU" everywhere.
missing() {
    if [ "${CI:-}" = true ]; then
        fail "missing under CI=true: $1 ($2)"
    else
        echo "skipped: $1 ($2)"
    fi
}
[ "${1:-}" = --missing-only ] && return 0

set -uo pipefail
lib_name=$1
shift
bin=
if [ "${1:-}" != --no-binary ]; then
    if [ $# -ne 1 ]; then
        echo "usage: $0 GPTC_BINARY" >&2
        exit 2
    fi
    bin=$1
    case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
    if [ ! -x "$bin" ] || [ -d "$bin" ]; then
        echo "$lib_name: '$1' is not an executable; build it with 'make build/gptc'" >&2
        exit 2
    fi
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/      /'
    return 0
}
# expect STATUS NAME FRAGMENT -- COMMAND...: the command exits with STATUS,
# a line of its output (stdout and stderr) holds FRAGMENT, and no sanitizer
# reported anything.
expect() {
    local want=$1 name=$2 frag=$3
    shift 4
    "$@" >"$tmp/out" 2>&1
    judge "$want" "$name" "$frag" $? "$tmp/out"
}
# judge STATUS NAME FRAGMENT GOT FILE: expect's verdict on a command that
# ran already (in the background), which exited with GOT, output in FILE.
judge() {
    local want=$1 name=$2 frag=$3 got=$4 out=$5
    if [ "$got" -ne "$want" ]; then
        fail "$name: exit status $got, expected $want" "$(tail -n 15 "$out")"
    elif ! grep -qF -- "$frag" "$out"; then
        fail "$name: no line holds: $frag" "$(tail -n 15 "$out")"
    elif grep -qE 'AddressSanitizer|runtime error:|LeakSanitizer' "$out"; then
        fail "$name: sanitizer report" "$(tail -n 15 "$out")"
    else
        pass "$name"
    fi
}
finish() {
    echo "$lib_name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
