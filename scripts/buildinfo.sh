#!/usr/bin/env bash
# buildinfo.sh OUT: writes the C file that tells which commit gptc was built
# from (compiler/version.h), rewriting OUT only when the text changes so
# that an unchanged tree does not relink.
set -euo pipefail
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$root" describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null || echo unknown)
text="/* Written by scripts/buildinfo.sh at build time. */
const char gptc_commit[] = \"$commit\";"
if [ ! -f "$out" ] || [ "$(cat "$out")" != "$text" ]; then
    mkdir -p "$(dirname "$out")"
    printf '%s\n' "$text" > "$out.tmp"
    mv "$out.tmp" "$out"
fi
