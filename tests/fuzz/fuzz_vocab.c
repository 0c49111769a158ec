/*
 * fuzz_vocab.c: libFuzzer target for the GPT-2 vocabulary reader
 * (bpe_load in bpe.h), used as `gptc data --tokenizer gpt2 --vocab PATH`
 * uses it.
 *
 * Each input is one tiktoken ranks file. Besides never crashing, leaking,
 * hanging or allocating without bound, the loader must keep its promises:
 * a refusal says "PATH:LINE: what" or "PATH: what"; an accepted file gives
 * ranks 0..N-1 with N at most BPE_MAX_RANKS, each a non-empty token, the 256
 * single bytes among them. The encoder relies on those, so an accepted
 * vocabulary then encodes two texts (a fixed one and the first bytes of the
 * input itself): every token must be a rank, and the tokens' bytes must
 * spell the text with its invalid UTF-8 replaced, as bpe.h says.
 *
 * Seeds (--seeds=DIR): small ranks files written here (the encoder needs
 * all 256 bytes, so a seed holds at least 256 lines): in byte order, in a
 * shuffled order with CRLF line ends and blank lines, and with multi-byte
 * merges.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/bpe.h"
#include "tests/fuzz/fuzz.h"
#include "compiler/util/strbuf.h"

#define TEXT_MAX 512

static FuzzFile in;

static const char sample[] = "Hello world, the th\xc3\xa9\xc3\xa2tre's 2024 \xe2\x80\x94 \xff\xfe tabs\t\tand\n\n"
                             "   spaces 'll 've \xf0\x9f\x98\x80 end";

static void check_message(const char *err) {
    size_t n = strlen(in.path);
    if (strncmp(err, in.path, n) || err[n] != ':')
        fuzz_fail("bpe_load: the message does not start with the path: %s", err);
}

static void check_vocabulary(const Bpe *b) {
    int n = bpe_ranks(b);
    if (n < 256 || n > BPE_MAX_RANKS) fuzz_fail("accepted %d ranks", n);
    bool byte_seen[256] = {false};
    for (int r = 0; r < n; r++) {
        size_t len;
        const unsigned char *t = bpe_token(b, r, &len);
        if (len == 0) fuzz_fail("rank %d is empty", r);
        if (len == 1) byte_seen[t[0]] = true;
    }
    for (int c = 0; c < 256; c++)
        if (!byte_seen[c]) fuzz_fail("byte 0x%02X has no rank", c);
}

/* Encodes text[0..len) and decodes it back. */
static void round_trip(Bpe *b, const char *text, size_t len) {
    size_t cap = bpe_max_tokens(text, len), n = 0;
    uint16_t *tokens = malloc((cap ? cap : 1) * sizeof *tokens);
    char *clean = malloc(3 * len + 1), err[512];
    if (!tokens || !clean) fuzz_fail("out of memory");
    size_t clean_len = bpe_utf8_replace(text, len, clean);
    if (!bpe_encode(b, text, len, tokens, &n, err, sizeof err)) fuzz_fail("bpe_encode: %s", err);
    if (n > cap) fuzz_fail("%zu tokens where at most %zu were promised", n, cap);
    StrBuf back = {0};
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] >= bpe_ranks(b)) fuzz_fail("token %u is not a rank", tokens[i]);
        size_t k;
        const unsigned char *t = bpe_token(b, tokens[i], &k);
        sb_append(&back, (const char *)t, k);
    }
    if (back.len != clean_len || memcmp(sb_str(&back), clean, clean_len))
        fuzz_fail("the tokens of a %zu-byte text do not spell it", len);
    sb_free(&back);
    free(clean);
    free(tokens);
}

/* The loader on the file in `in`; true when it accepted it. */
static bool load(const uint8_t *data, size_t size) {
    char err[1024];
    Bpe *b = bpe_load(in.path, err, sizeof err);
    if (!b) {
        check_message(err);
        return false;
    }
    check_vocabulary(b);
    round_trip(b, sample, sizeof sample - 1);
    round_trip(b, (const char *)data, size < TEXT_MAX ? size : TEXT_MAX);
    bpe_free(b);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_put(&in, data, size);
    load(data, size);
    return 0;
}

/* ---- seeds ------------------------------------------------------------- */

static void add_base64(StrBuf *sb, const unsigned char *s, size_t n) {
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        for (size_t k = 0; k < 4; k++)
            sb_printf(sb, "%c", i + k <= n ? digits[(v >> (18 - 6 * k)) & 63] : '=');
    }
}

static void add_rank(StrBuf *sb, const char *token, size_t n, int rank, const char *eol) {
    add_base64(sb, (const unsigned char *)token, n);
    sb_printf(sb, " %d%s", rank, eol);
}

/* The 256 bytes at the ranks `order` gives, then `merges` in turn. */
static void write_seed(const char *dir, const char *name, const unsigned char *order,
                       const char *const *merges, const char *eol) {
    StrBuf sb = {0};
    for (int r = 0; r < 256; r++) {
        char c = (char)order[r];
        add_rank(&sb, &c, 1, r, eol);
        if (r % 100 == 99) sb_puts(&sb, eol); /* tiktoken skips blank lines */
    }
    for (int i = 0; merges[i]; i++) add_rank(&sb, merges[i], strlen(merges[i]), 256 + i, eol);
    fuzz_file_put(&in, sb.data, sb.len);
    if (!load((const uint8_t *)sb.data, sb.len)) fuzz_fail("%s: the seed is refused", name);
    fuzz_seed_file(dir, name, sb.data, sb.len);
    sb_free(&sb);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_file_open(&in);
    const char *dir = fuzz_seed_dir(*argc, *argv);
    if (!dir) return 0;
    unsigned char bytes[256], shuffled[256];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (unsigned char)i;
        shuffled[i] = (unsigned char)(i * 167 + 13); /* 167 is odd: a permutation */
    }
    static const char *const none[] = {NULL};
    static const char *const words[] = {"th", " t", "he", "the", " the", "in", "er", " w",
                                        "or", "ld", " wor", " world", "ll", "'s", "\xc3\xa9",
                                        "t\xc3\xa9", "\xe2\x80", "\xe2\x80\x94", "  ", "\n\n",
                                        NULL};
    write_seed(dir, "bytes.tiktoken", bytes, none, "\n");
    write_seed(dir, "shuffled.tiktoken", shuffled, words, "\r\n");
    write_seed(dir, "merges.tiktoken", bytes, words, "\n");
    exit(0);
}
