#!/usr/bin/env bash
# make-corpus.sh: the x0 study's corpus: the King James Version of the Bible
# (public domain), as Debian's bible-kjv package ships it, one document per
# chapter (1189), tokenized by bytes into examples/x0-sweep/data/.
#
# Usage: examples/x0-sweep/make-corpus.sh [GPTC]     (from anywhere)
#   GPTC: the gptc binary; default build/gptc.
# Needs the `bible` program: apt-get install bible-kjv
#
# `bible -f` prints one verse per line as "Ge1:1 text"; the reference is
# dropped and a blank line separates chapters, so that `gptc data
# --paragraphs` makes each chapter a document (the document mask then
# keeps attention inside a chapter). 4.1 MB of text, 4.1 million byte
# tokens; 5% of the chapters (the first ones) are the validation set.
set -euo pipefail
gptc=${1:-build/gptc}
case $gptc in
    */*) gptc=$(cd "$(dirname "$gptc")" && pwd)/$(basename "$gptc") ;;
esac
cd "$(dirname "$0")"
if ! command -v bible >/dev/null; then
    echo "make-corpus: the 'bible' program is missing; apt-get install bible-kjv" >&2
    exit 2
fi
mkdir -p data
bible -f "Gen1:1-Rev22:21" |
    awk '{ ref = $1; sub(/^[^ ]+ /, ""); split(ref, at, ":");
           if (at[1] != chapter && NR > 1) print ""; chapter = at[1]; print }' >data/kjv.txt.tmp
mv data/kjv.txt.tmp data/kjv.txt
"$gptc" data data/kjv.txt -o data --name kjv --paragraphs --val-fraction 0.05
