#!/usr/bin/env python3
"""make_bpe_fixture.py: the expected GPT-2 BPE ids that tests/unit/test_bpe.c
compares gptc's encoder against, from tiktoken itself.

Writes tests/fixtures/bpe/gpt2-samples/ (three texts: the head of the demo
corpus, a UTF-8 sample of accents, scripts, CJK, emoji, digits, contractions
and every kind of whitespace, and a sample of invalid UTF-8) and
tests/fixtures/bpe/gpt2-expected.txt (their ids under tiktoken's
encode_ordinary). The texts are read as Python reads a file with
errors='replace', which is what gptc does with invalid UTF-8.

tiktoken's own 'gpt2' encoding downloads its vocabulary at run time, so this
builds the same Encoding from the local ranks file that
scripts/get-gpt2-vocab.sh installs: tiktoken's gpt2 pattern (r50k_pat_str,
which the 'gpt2' and 'r50k_base' encodings share), the ranks, and
<|endoftext|> = 50256. The file's sha256 is the one tiktoken pins for
r50k_base, whose ranks equal 'gpt2''s.

With --gptc BINARY it also runs `BINARY data --tokenizer gpt2` on the whole
demo corpus and compares the shard with [50256] + tiktoken's ids, writing
nothing.

Needs tiktoken (PyPI), e.g. in a virtual environment:
  python3 -m venv build/tiktoken-venv
  build/tiktoken-venv/bin/pip install tiktoken==0.14.0
  build/tiktoken-venv/bin/python tests/reference/make_bpe_fixture.py
"""
import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

VOCAB_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
EOT = 50256
HEAD_BYTES = 4096  # the corpus sample: whole paragraphs within this many bytes

UTF8_SAMPLE = (
    "Accents: café, naïve, façade, Ångström, Øresund, Łódź, São Paulo, Müller's Straße.\n"
    "Greek: Καλημέρα κόσμε. Cyrillic: Съешь же ещё этих мягких французских булок.\n"
    "CJK: 日本語のテキストと漢字、中文句子。한국어 문장입니다.\n"
    "Emoji: 😀 👍🏽 👨\u200d👩\u200d👧 🇫🇷 ❤️ — and 🤖🤖🤖!\n"
    "Arabic: مرحبا بالعالم ١٢٣. Hebrew: שלום עולם. Hindi: नमस्ते दुनिया.\n"
    "Numbers: 3.14159, 1,000,000, 2024-05-20, ½ ¾ ² Ⅻ ①, 0x1F600, 12345678901234567890.\n"
    "Contractions: I'm, you're, they've, we'll, he'd, it's, DON'T, O'Neil, rock'n'roll, "
    "it’s, 'tis, ''quoted''.\n"
    "Combining: e\u0301 vs \u00e9, n\u0303; zero\u200bwidth; bom\ufeffhere.\n"
    "Spaces: a  b   c\tt\t\td\u00a0nbsp\u3000ideo\u2028line\u2029para\u0085nel (\u0085) \u000bvt"
    "\u000cff \u2003em\u202fnarrow \u180emvs\u180e.\n"
    "Code:\n    def f(x):\n        return x**2  # square\r\n\r\n"
    "Special text: <|endoftext|> stays ordinary.\n"
    "Trailing whitespace at the end:   \n\n  "
)

INVALID_SAMPLE = (
    b"lone continuation \x80 and \xbf; overlong \xc0\xaf and \xe0\x80\xaf; "
    b"surrogate \xed\xa0\x80; too big \xf4\x90\x80\x80 and \xf5\x80\x80\x80; "
    b"truncated \xe2\x82 then \xf0\x9f\x98 then ok \xf0\x9f\x98\x80; "
    b"bytes \xff\xfe\xc2; nul \x00 del \x7f ctrl \x01\x1b[0m; "
    b"valid \xc3\xa9 next to bad \xc3\xc3\xa9; at the end \xe2\x80"
)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def encoding(vocab):
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        from tiktoken_ext.openai_public import r50k_pat_str
    except ImportError:
        sys.exit("make_bpe_fixture: needs tiktoken (pip install tiktoken==0.14.0, in a venv)")
    got = sha256(vocab)
    if got != VOCAB_SHA256:
        sys.exit(f"make_bpe_fixture: {vocab} has sha256 {got}, expected {VOCAB_SHA256}")
    enc = tiktoken.Encoding(
        name="gpt2-local",
        pat_str=r50k_pat_str,
        mergeable_ranks=load_tiktoken_bpe(vocab, expected_hash=VOCAB_SHA256),
        special_tokens={"<|endoftext|>": EOT},
        explicit_n_vocab=EOT + 1,
    )
    return enc, tiktoken.__version__


def corpus_head(corpus):
    """Whole paragraphs from the start of the corpus, up to HEAD_BYTES."""
    data = open(corpus, "rb").read()
    cut = data.rfind(b"\n\n", 0, HEAD_BYTES)
    return data[: cut + 1]


def encode(enc, data):
    return enc.encode_ordinary(data.decode("utf-8", errors="replace"))


def write_fixtures(enc, version, args):
    samples = {
        "corpus-head.txt": corpus_head(args.corpus),
        "utf8.txt": UTF8_SAMPLE.encode("utf-8"),
        "invalid-utf8.txt": INVALID_SAMPLE,
    }
    sdir = os.path.join(args.out, "gpt2-samples")
    os.makedirs(sdir, exist_ok=True)
    lines = [
        "# GPT-2 BPE ids of the texts in gpt2-samples/: tiktoken "
        f"{version}'s encode_ordinary with the ranks",
        f"# of data/gpt2/gpt2.tiktoken (sha256 {VOCAB_SHA256}),",
        "# each text read as UTF-8 with errors='replace'.",
        "# Written by tests/reference/make_bpe_fixture.py; do not edit.",
        "# Each text: 'sample NAME BYTES COUNT', then its COUNT ids, 16 to a line.",
    ]
    for name, data in samples.items():
        with open(os.path.join(sdir, name), "wb") as f:
            f.write(data)
        ids = encode(enc, data)
        lines.append(f"sample {name} {len(data)} {len(ids)}")
        for i in range(0, len(ids), 16):
            lines.append(" ".join(str(t) for t in ids[i : i + 16]))
        print(f"{name}: {len(data)} bytes, {len(ids)} tokens")
    with open(os.path.join(args.out, "gpt2-expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def compare_corpus(enc, args):
    """gptc data --tokenizer gpt2 on the whole corpus against tiktoken."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [args.gptc, "data", args.corpus, "-o", tmp, "--name", "c", "--tokenizer", "gpt2",
             "--vocab", args.vocab, "--val-fraction", "0", "--shard-tokens", "2147483647",
             "--quiet"],
            check=True,
        )
        data = open(os.path.join(tmp, "c_train_000001.bin"), "rb").read()
    count = struct.unpack_from("<i", data, 8)[0]
    got = list(struct.unpack_from(f"<{count}H", data, 1024))
    want = [EOT] + encode(enc, open(args.corpus, "rb").read())
    if got == want:
        print(f"{args.corpus}: gptc and tiktoken agree on all {len(want)} tokens")
        return 0
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    print(f"{args.corpus}: gptc gives {len(got)} tokens, tiktoken {len(want)}; first "
          f"difference at token {at}: {got[at:at + 8]} vs {want[at:at + 8]}")
    return 1


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", default=os.path.join(root, "data/gpt2/gpt2.tiktoken"))
    ap.add_argument("--corpus", default=os.path.join(root, "data/demo/corpus.txt"))
    ap.add_argument("--out", default=os.path.join(root, "tests/fixtures/bpe"))
    ap.add_argument("--gptc", help="compare this gptc on the whole corpus instead")
    args = ap.parse_args()
    enc, version = encoding(args.vocab)
    if args.gptc:
        return compare_corpus(enc, args)
    write_fixtures(enc, version, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
