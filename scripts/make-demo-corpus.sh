#!/usr/bin/env bash
# make-demo-corpus.sh: regenerates data/demo/corpus.txt, the demo's training
# text, from the Debian package dict-jargon (The Jargon File 4.4.7, public
# domain; see data/demo/README.md).
#
# The package holds the Jargon Lexicon as a dictd database: jargon.index
# (headword, base64 offset, base64 length) and jargon.dict.dz (gzip). Each
# entry is written as one paragraph, entries separated by one blank line, so
# `gptc data --paragraphs` makes one document per entry:
#   - the dictd metadata entries (00-database-*) are left out;
#   - the headword and its pronunciation / part-of-speech line become one
#     line ("1TBS //, n." -> "1TBS n.", the empty "//" dropped);
#   - the body's 4-space indent is removed and the blank lines between its
#     paragraphs are dropped (so the entry stays one document);
#   - the lone section letters ("A", "B", ...) that close some entries are
#     dropped.
# Text is otherwise unchanged (UTF-8, line breaks as in the package).
#
# Usage: scripts/make-demo-corpus.sh [OUT]   (default data/demo/corpus.txt)
# Needs: dict-jargon (apt-get install dict-jargon) and python3.
set -euo pipefail

out=${1:-data/demo/corpus.txt}
dict=/usr/share/dictd/jargon.dict.dz
index=/usr/share/dictd/jargon.index
expected_version=4.4.7-3.1

if [ ! -f "$dict" ] || [ ! -f "$index" ]; then
    echo "make-demo-corpus: $dict not found; install it with: apt-get install dict-jargon" >&2
    exit 1
fi
version=$(dpkg-query -W -f='${Version}' dict-jargon 2>/dev/null || echo unknown)
if [ "$version" != "$expected_version" ]; then
    echo "make-demo-corpus: warning: dict-jargon is $version, the shipped corpus came from" \
        "$expected_version; the text may differ" >&2
fi

python3 - "$dict" "$index" "$out.tmp" <<'PY'
import gzip, re, sys

dict_path, index_path, out_path = sys.argv[1:4]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

def b64(s):
    v = 0
    for ch in s:
        v = v * 64 + B64.index(ch)
    return v

data = gzip.open(dict_path).read()
entries = set()  # (offset, length): several headwords may share one entry
with open(index_path, encoding="utf-8") as f:
    for line in f:
        word, off, length = line.rstrip("\n").split("\t")
        if not word.startswith("00-database"):
            entries.add((b64(off), b64(length)))

def clean(raw):
    lines = raw.decode("utf-8").rstrip("\n").split("\n")
    head, rest = lines[0].strip(), lines[1:]
    if rest and rest[0].startswith(" ") and not rest[0].startswith("    "):
        pron = re.sub(r"^//(, )?", "", rest[0].strip())
        head = (head + " " + pron).strip()
        rest = rest[1:]
    body = [l[4:] if l.startswith("    ") else l.strip() for l in rest]
    body = [l for l in body if l.strip()]
    if body and re.fullmatch(r"[A-Z]", body[-1].strip()):
        body = body[:-1]
    return "\n".join([head] + body)

docs = [clean(data[o:o + n]) for o, n in sorted(entries)]
docs = [d for d in docs if d.strip()]
with open(out_path, "w", encoding="utf-8", newline="\n") as f:
    f.write("\n\n".join(docs) + "\n")
print(f"make-demo-corpus: {len(docs)} entries", file=sys.stderr)
PY
mv "$out.tmp" "$out"
echo "make-demo-corpus: wrote $out ($(wc -c <"$out") bytes)" >&2
