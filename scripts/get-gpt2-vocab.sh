#!/usr/bin/env bash
# get-gpt2-vocab.sh: fetches GPT-2's BPE vocabulary into data/gpt2/, for
# `gptc data --tokenizer gpt2`. gptc itself never downloads anything.
#
# The vocabulary is gpt2.tiktoken: GPT-2's 50256 mergeable tokens in
# tiktoken's format (base64 bytes, space, rank), which gptc reads as it is.
# No Debian package ships it, and tiktoken downloads it at run time; the
# PyPI package openai-whisper ships it in its source archive, under
# whisper/assets/, MIT licence (Copyright (c) 2022 OpenAI). Its sha256 is
# the one tiktoken pins for r50k_base, whose ranks are those of tiktoken's
# 'gpt2' encoding. This script downloads that archive with pip (without
# installing it), takes the one file and its licence out, and checks the
# file against the sha256 pinned below.
#
# Usage: scripts/get-gpt2-vocab.sh     (from anywhere; writes data/gpt2/)
set -euo pipefail

PKG=openai-whisper
VER=20250625
MEMBER=whisper/assets/gpt2.tiktoken
SHA256=306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930

cd "$(dirname "$0")/.."
dest=data/gpt2
out=$dest/gpt2.tiktoken

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$out" ] && [ "$(sha_of "$out")" = "$SHA256" ]; then
    echo "get-gpt2-vocab: $out is already there (sha256 checked)"
    exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "get-gpt2-vocab: needs pip (Debian: apt-get install python3-pip)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "get-gpt2-vocab: downloading the $PKG $VER source archive from PyPI"
# --no-binary: the source archive, which holds the assets; pip prepares its
# metadata but installs nothing.
python3 -m pip download --quiet --no-deps --no-binary :all: "$PKG==$VER" -d "$tmp"
archives=("$tmp"/*.tar.gz)
archive=${archives[0]}
if [ ! -f "$archive" ]; then
    echo "get-gpt2-vocab: pip left no source archive of $PKG $VER" >&2
    exit 1
fi
top=$(basename "$archive" .tar.gz) # the archive's top folder, by sdist convention
tar -xzf "$archive" -C "$tmp" "$top/$MEMBER" "$top/LICENSE"

got=$(sha_of "$tmp/$top/$MEMBER")
if [ "$got" != "$SHA256" ]; then
    echo "get-gpt2-vocab: $MEMBER in $(basename "$archive") has sha256 $got," \
        "expected $SHA256; not installed" >&2
    exit 1
fi
mkdir -p "$dest"
cp "$tmp/$top/LICENSE" "$dest/LICENSE.openai-whisper"
cp "$tmp/$top/$MEMBER" "$out.tmp"
mv "$out.tmp" "$out"
echo "get-gpt2-vocab: wrote $out (sha256 $SHA256, from $PKG $VER, MIT licence:" \
    "$dest/LICENSE.openai-whisper)"
