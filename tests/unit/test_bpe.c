/*
 * test_bpe.c: GPT-2's BPE (bpe.c) and `gptc data --tokenizer gpt2`.
 *
 * Most tests use tests/fixtures/bpe/tiny.tiktoken, a hand-made vocabulary:
 * every byte b at rank b, then 17 merged tokens at ranks 256..272:
 *   256 "bc"   257 "ab"   258 "aa"   259 "cd"   260 " t"   261 "he"
 *   262 " the" 263 "é"    264 "ll"   265 " hello"         266 E2 80
 *   267 U+FFFD (EF BF BD) 268 "bcd"  269 "aab"  270 "lle"  271 "ee"
 *   272 "abc"
 * chosen so the merge order shows: "abcd" merges "bc" (the lowest rank)
 * before "ab" (the leftmost pair), and ends as a + bcd, though "ab" and
 * "cd" are tokens too. The expected ids were checked against tiktoken with
 * the same ranks. A second check runs the heap-based merges against a
 * plain rescan (tiktoken's own algorithm, written out here) on random text.
 *
 * The split is checked piece by piece (contractions, letters, numbers,
 * punctuation, whitespace runs and the \s+(?!\S) rule, non-ASCII
 * whitespace); the UTF-8 repair against Python's errors='replace'
 * (maximal subparts); the loader's refusals one by one, each naming the
 * file and line.
 *
 * With the real vocabulary in data/gpt2/ (scripts/get-gpt2-vocab.sh), two
 * more tests compare the encoder and `gptc data` with tiktoken's ids in
 * tests/fixtures/bpe/gpt2-expected.txt (tests/reference/make_bpe_fixture.py).
 * Without it they are not run, so not counted as passed, and a line says
 * they were skipped (under CI: failed).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/data/bpe.h"
#include "cli/cmd_data.h"
#include "tests/unit/test.h"

#define TINY "tests/fixtures/bpe/tiny.tiktoken"
#define TINY_RANKS 273
#define EXPECTED "tests/fixtures/bpe/gpt2-expected.txt"
#define SAMPLES "tests/fixtures/bpe/gpt2-samples"

/* ---- helpers ---- */

static char berr[1024];  

static void write_bytes(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write a test file");
        return;
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

/* A whole file, NUL-terminated; NULL when it cannot be read. */
static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[size] = 0;
        *n = (size_t)size;
    }
    return buf;
}

static Bpe *tiny(void) {
    Bpe *b = bpe_load(TINY, berr, sizeof berr);
    if (!b) test_fail(__FILE__, __LINE__, berr);
    return b;
}

/* Encodes s (of n bytes) into out, returning the count, -1 on failure. */
static long encode_n(Bpe *b, const char *s, size_t n, uint16_t *out) {
    size_t k;
    if (!bpe_encode(b, s, n, out, &k, berr, sizeof berr)) return -1;
    return (long)k;
}

static void check_tokens(int line, Bpe *b, const char *s, size_t n, const int *want, int nwant) {
    uint16_t out[256];
    long k = encode_n(b, s, n, out);
    char m[1024];
    int at = 0;
    while (at < k && at < nwant && out[at] == want[at]) at++;
    if (k == nwant && at == nwant) return;
    snprintf(m, sizeof m, "\"%s\": %ld tokens where %d expected, first difference at %d (%d vs %d)",
             s, k, nwant, at, at < k ? out[at] : -1, at < nwant ? want[at] : -1);
    test_fail(__FILE__, line, m);
}
#define CHECK_TOKENS(b, s, ...)                                                         \
    do {                                                                                \
        const int want_[] = {__VA_ARGS__};                                              \
        check_tokens(__LINE__, (b), (s), strlen(s), want_, sizeof want_ / sizeof *want_); \
    } while (0)

/* The pieces of s joined by '|'. */
static void check_split(int line, Bpe *b, const char *s, const char *want) {
    char got[1024] = "";
    size_t pos = 0, start, end, k = 0, len = strlen(s);
    int rc;
    while ((rc = bpe_next_piece(b, s, len, &pos, &start, &end, berr, sizeof berr)) > 0) {
        if (k && k + 1 < sizeof got) got[k++] = '|';
        for (size_t i = start; i < end && k + 1 < sizeof got; i++) got[k++] = s[i];
        got[k] = 0;
    }
    if (rc == 0 && !strcmp(got, want)) return;
    char m[2400];
    snprintf(m, sizeof m, "split of \"%s\": \"%s\" where \"%s\" expected%s%s", s, got, want,
             rc < 0 ? ": " : "", rc < 0 ? berr : "");
    test_fail(__FILE__, line, m);
}
#define CHECK_SPLIT(b, s, want) check_split(__LINE__, (b), (s), (want))

/* ---- merges ---- */

TEST(bpe_tiny_loads) {
    Bpe *b = tiny();
    if (!b) return;
    CHECK_EQ_INT(bpe_ranks(b), TINY_RANKS);
    size_t n;
    const unsigned char *t = bpe_token(b, 268, &n);
    CHECK(n == 3 && !memcmp(t, "bcd", 3));
    t = bpe_token(b, 'x', &n);
    CHECK(n == 1 && t[0] == 'x');
    bpe_free(b);
}

TEST(bpe_merges_by_rank) {
    Bpe *b = tiny();
    if (!b) return;
    /* bc (256) before ab (257); then bcd (268) beats abc (272). */
    CHECK_TOKENS(b, "abcd", 'a', 268);
    /* Equal ranks: the leftmost pair first. */
    CHECK_TOKENS(b, "aaa", 258, 'a');
    CHECK_TOKENS(b, "aaaa", 258, 258);
    CHECK_TOKENS(b, "aaaaa", 258, 258, 'a');
    /* ab (257) before either aa (258), leaving a a ab: then aa. */
    CHECK_TOKENS(b, "aaab", 258, 257);
    CHECK_TOKENS(b, "ababab", 257, 257, 257);
    CHECK_TOKENS(b, "abcabc", 272, 272); /* whole tokens, also by merging */
    /* he (261), then ll (264); "hell" is no token. */
    CHECK_TOKENS(b, "hello", 261, 264, 'o');
    /* he, ll, then lle (270) from ll + e. */
    CHECK_TOKENS(b, "helle", 261, 270);
    /* " t" (260) before he (261) before ee (271); then " the" (262). */
    CHECK_TOKENS(b, " thee", 262, 'e');
    CHECK_TOKENS(b, " hello", 265); /* a whole piece that is a token */
    CHECK_TOKENS(b, "hello hello", 261, 264, 'o', 265);
    /* Multi-byte UTF-8: merged bytes of é, a partial sequence E2 80 of
     * "…" (E2 80 A6), and an emoji's four bytes. */
    CHECK_TOKENS(b, "caf\xc3\xa9", 'c', 'a', 'f', 263);
    CHECK_TOKENS(b, "\xe2\x80\xa6", 266, 0xA6);
    CHECK_TOKENS(b, "\xf0\x9f\x98\x80", 0xF0, 0x9F, 0x98, 0x80);
    /* "<|endoftext|>" is ordinary text (encode_ordinary). */
    CHECK_TOKENS(b, "<|endoftext|>", '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|',
                 '>');
    uint16_t out[4];
    CHECK_EQ_INT(encode_n(b, "", 0, out), 0);
    bpe_free(b);
}

/* The rank of s[0..n) by a walk over every token: slow and obviously
 * right. */
static int slow_rank(const Bpe *b, const unsigned char *s, size_t n) {
    for (int r = 0; r < bpe_ranks(b); r++) {
        size_t len;
        const unsigned char *t = bpe_token(b, r, &len);
        if (len == n && !memcmp(t, s, n)) return r;
    }
    return -1;
}

/* tiktoken's _byte_pair_merge: rescan all pairs, merge the lowest rank
 * (the first on a tie), until no pair is a token. Appends to out. */
static void rescan_merge(const Bpe *b, const unsigned char *p, size_t n, uint16_t *out,
                         size_t *k) {
    size_t start[256];
    size_t parts = n;
    for (size_t i = 0; i <= n; i++) start[i] = i;
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < parts; i++) {
            int r = slow_rank(b, p + start[i], start[i + 2] - start[i]);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        memmove(start + at + 1, start + at + 2, (parts - at - 1) * sizeof *start);
        parts--;
    }
    for (size_t i = 0; i < parts; i++)
        out[(*k)++] = (uint16_t)slow_rank(b, p + start[i], start[i + 1] - start[i]);
}

TEST(bpe_heap_matches_rescan) {
    Bpe *b = tiny();
    if (!b) return;
    const char alphabet[] = "aabbccdehlt  ";
    uint32_t seed = 12345;
    int bad = 0;
    for (int trial = 0; trial < 2000 && bad < 3; trial++) {
        char s[64];
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 40;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        uint16_t got[64], want[64];
        long k = encode_n(b, s, n, got);
        size_t kw = 0, pos = 0, start, end;
        while (bpe_next_piece(b, s, n, &pos, &start, &end, berr, sizeof berr) > 0)
            rescan_merge(b, (const unsigned char *)s + start, end - start, want, &kw);
        if (k == (long)kw && !memcmp(got, want, kw * sizeof *got)) continue;
        char m[256];
        snprintf(m, sizeof m, "\"%.*s\": the heap and the rescan disagree", (int)n, s);
        test_fail(__FILE__, __LINE__, m);
        bad++;
    }
    bpe_free(b);
}

/* A piece of 100,000 bytes (one run of letters) merges in linear-log
 * time, and the result decodes back to the text. */
TEST(bpe_long_piece) {
    Bpe *b = tiny();
    if (!b) return;
    size_t n = 100000;
    char *s = malloc(n);
    uint16_t *out = malloc(bpe_max_tokens(s, n) * sizeof *out);
    for (size_t i = 0; i < n; i++) s[i] = "abcdhe"[i * 7 % 6];
    long k = encode_n(b, s, n, out);
    CHECK(k > 0);
    size_t at = 0;
    bool same = true;
    for (long i = 0; i < k && same; i++) {
        size_t len;
        const unsigned char *t = bpe_token(b, out[i], &len);
        same = at + len <= n && !memcmp(s + at, t, len);
        at += len;
    }
    CHECK(same && at == n);
    free(s);
    free(out);
    bpe_free(b);
}

/* ---- the split ---- */

TEST(bpe_split_pieces) {
    Bpe *b = tiny();
    if (!b) return;
    /* Contractions, lower case only; an apostrophe otherwise is punctuation. */
    CHECK_SPLIT(b, "I'm here", "I|'m| here");
    CHECK_SPLIT(b, "they'll've we'd it's you're", "they|'ll|'ve| we|'d| it|'s| you|'re");
    CHECK_SPLIT(b, "DON'T", "DON|'|T");
    CHECK_SPLIT(b, " 's", " '|s");
    CHECK_SPLIT(b, "x''s", "x|''|s");
    /* Letters, numbers and punctuation, each with one optional leading space. */
    CHECK_SPLIT(b, "abc123 456", "abc|123| 456");
    CHECK_SPLIT(b, "3.14", "3|.|14");
    CHECK_SPLIT(b, "hello,  world!!", "hello|,| | world|!!");
    /* Whitespace: a run before a word leaves its last space to the word
     * (\s+(?!\S)); other whitespace stays apart from the word. */
    CHECK_SPLIT(b, "a   b", "a|  | b");
    CHECK_SPLIT(b, "a\n\nb", "a|\n|\n|b");
    CHECK_SPLIT(b, "tab\t x", "tab|\t| x");
    CHECK_SPLIT(b, "a \n b", "a| \n| b");
    CHECK_SPLIT(b, "end   ", "end|   "); /* at the end, the whole run */
    CHECK_SPLIT(b, "  \n", "  \n");
    /* Unicode letters, numbers, marks and whitespace. */
    CHECK_SPLIT(b, "h\xc3\xa9llo w\xc3\xb6rld", "h\xc3\xa9llo| w\xc3\xb6rld");
    CHECK_SPLIT(b, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    /* Arabic-Indic digits (Nd), then Roman numeral twelve (Nl) and a
     * superscript two (No): numbers all. */
    CHECK_SPLIT(b, "\xd9\xa1\xd9\xa2 \xe2\x85\xab\xc2\xb2",
                "\xd9\xa1\xd9\xa2| \xe2\x85\xab\xc2\xb2");
    /* A combining accent (Mn) is not a letter. */
    CHECK_SPLIT(b, "e\xcc\x81", "e|\xcc\x81");
    /* NO-BREAK SPACE and NEXT LINE are whitespace; U+180E is not. */
    CHECK_SPLIT(b, "a\xc2\xa0" "b", "a|\xc2\xa0|b");
    CHECK_SPLIT(b, "a\xc2\x85" "b", "a|\xc2\x85|b");
    CHECK_SPLIT(b, "(\xc2\x85)", "(|\xc2\x85|)"); /* not punctuation, so alone */
    CHECK_SPLIT(b, "a \xe1\xa0\x8e" "b", "a| \xe1\xa0\x8e|b");
    CHECK_SPLIT(b, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80 x", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80| x");
    CHECK_SPLIT(b, "", "");
    bpe_free(b);
}

/* ---- UTF-8 ---- */

static void check_repair(int line, const char *in, size_t n, const char *want) {
    char out[256];
    size_t k = bpe_utf8_replace(in, n, out);
    if (k == strlen(want) && !memcmp(out, want, k) && bpe_utf8_valid(out, k) &&
        bpe_utf8_valid(in, n) == !strcmp(in, want))
        return;
    test_fail(__FILE__, line, "UTF-8 repair differs from Python's errors='replace'");
}
#define FFFD "\xef\xbf\xbd"
#define CHECK_REPAIR(in, want) check_repair(__LINE__, (in), sizeof(in) - 1, (want))

TEST(bpe_utf8_repair) {
    CHECK_REPAIR("plain \xc3\xa9 \xf0\x9f\x98\x80", "plain \xc3\xa9 \xf0\x9f\x98\x80");
    CHECK_REPAIR("\x80x\xbf", FFFD "x" FFFD);          /* lone continuation bytes */
    CHECK_REPAIR("\xc0\xaf", FFFD FFFD);               /* overlong 2-byte */
    CHECK_REPAIR("\xe0\x80\xaf", FFFD FFFD FFFD);      /* overlong 3-byte */
    CHECK_REPAIR("\xed\xa0\x80", FFFD FFFD FFFD);      /* a surrogate */
    CHECK_REPAIR("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
    CHECK_REPAIR("\xf5\x80", FFFD FFFD);
    CHECK_REPAIR("\xe2\x82x", FFFD "x");               /* truncated: one U+FFFD */
    CHECK_REPAIR("\xf0\x9f\x98", FFFD);                /* truncated at the end */
    CHECK_REPAIR("\xc3\xc3\xa9", FFFD "\xc3\xa9");
    CHECK_REPAIR("\xff\xfe", FFFD FFFD);
    CHECK(bpe_utf8_valid("", 0));
    CHECK(bpe_utf8_valid("\xf4\x8f\xbf\xbf", 4));      /* U+10FFFF */
    CHECK(!bpe_utf8_valid("\xed\xbf\xbf", 3));

    /* The encoder repairs before splitting, and never fails on bytes. */
    Bpe *b = tiny();
    if (!b) return;
    CHECK_TOKENS(b, "a\xff" "b", 'a', 267, 'b');
    uint16_t out[3 * 64];
    uint32_t seed = 7;
    bool ok = true;
    for (int trial = 0; trial < 500; trial++) {
        char s[64], fixed[3 * 64];
        for (size_t i = 0; i < sizeof s; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = (char)(seed >> 16);
        }
        long k = encode_n(b, s, sizeof s, out);
        size_t nf = bpe_utf8_replace(s, sizeof s, fixed), at = 0;
        for (long i = 0; i < k && ok; i++) { /* decodes to the repaired text */
            size_t len;
            const unsigned char *t = bpe_token(b, out[i], &len);
            ok = at + len <= nf && !memcmp(fixed + at, t, len);
            at += len;
        }
        ok = ok && k >= 0 && at == nf && bpe_max_tokens(s, sizeof s) == nf;
    }
    CHECK(ok);
    bpe_free(b);
}

/* ---- the loader ---- */

/* The 256 single-byte lines of a valid file, byte b at rank b. */
static size_t byte_lines(char *out, size_t cap) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (int c = 0; c < 256 && k + 16 < cap; c++)
        k += (size_t)snprintf(out + k, cap - k, "%c%c== %d\n", b64[c >> 2], b64[(c & 3) << 4], c);
    return k;
}

/* Writes the byte lines then `tail` to NAME and loads it; NULL expected. */
static void check_refused(int line, const char *name, bool bytes, const char *tail,
                          const char *want) {
    char text[8192];
    size_t k = bytes ? byte_lines(text, sizeof text) : 0;
    snprintf(text + k, sizeof text - k, "%s", tail);
    write_bytes(tmp_path(name), text, strlen(text));
    Bpe *b = bpe_load(tmp_path(name), berr, sizeof berr);
    if (b) {
        test_fail(__FILE__, line, "a bad ranks file was accepted");
        bpe_free(b);
        return;
    }
    char full[PATH_MAX + 256];
    snprintf(full, sizeof full, "%s%s", tmp_path(name), want);
    test_check_has(__FILE__, line, berr, full);
}
#define CHECK_REFUSED(name, bytes, tail, want) \
    check_refused(__LINE__, (name), (bytes), (tail), (want))

TEST(bpe_load_errors) {
    tmp_setup("bpe");
    /* The byte lines alone are a valid vocabulary; CRLF line ends too. */
    char text[8192];
    size_t k = byte_lines(text, sizeof text);
    write_bytes(tmp_path("ok.tiktoken"), text, k);
    Bpe *b = bpe_load(tmp_path("ok.tiktoken"), berr, sizeof berr);
    CHECK(b && bpe_ranks(b) == 256);
    bpe_free(b);
    /* blank lines, LF and CRLF, and no last \n */
    snprintf(text + k, sizeof text - k, "YWI= 256\r\n\n\r\nYmM= 257");
    write_bytes(tmp_path("crlf.tiktoken"), text, strlen(text));
    b = bpe_load(tmp_path("crlf.tiktoken"), berr, sizeof berr);
    CHECK(b && bpe_ranks(b) == 258);
    bpe_free(b);

    CHECK_REFUSED("b1", true, "YW!= 256\n", ":257: the token is not valid base64");
    CHECK_REFUSED("b2", true, "YWJ 256\n", ":257: the token is not valid base64");
    CHECK_REFUSED("b3", true, "YR== 256\n", ":257: the token is not valid base64");
    CHECK_REFUSED("b4", true, "Y=Jj 256\n", ":257: the token is not valid base64");
    CHECK_REFUSED("dup-rank", true, "YWI= 256\nYmM= 256\n",
                  ":258: rank 256 is given twice (first on line 257)");
    CHECK_REFUSED("dup-byte-rank", true, "YWI= 97\n",
                  ":257: rank 97 is given twice (first on line 98)");
    CHECK_REFUSED("dup-token", true, "YWI= 256\nYWI= 257\n",
                  ":258: this token already has rank 256 (line 257)");
    CHECK_REFUSED("trunc1", true, "YWI= 256\nYW", ":258: expected 'BASE64 RANK', found no space");
    CHECK_REFUSED("trunc2", true, "YWI= 256\nYWI= ", ":258: no rank after the token");
    CHECK_REFUSED("no-token", true, " 256\n", ":257: expected 'BASE64 RANK', found no token");
    CHECK_REFUSED("rank-text", true, "YWI= 25x\n", ":257: the rank must be a whole number");
    CHECK_REFUSED("rank-sign", true, "YWI= -1\n", ":257: the rank must be a whole number");
    CHECK_REFUSED("rank-big", true, "YWI= 65535\n",
                  ":257: the rank must be a whole number from 0 to 65534");
    CHECK_REFUSED("two-spaces", true, "YWI=  256\n", ":257: the rank must be a whole number");
    CHECK_REFUSED("gap", true, "YWI= 300\n",
                  ": ranks must be 0..N-1 without gaps: rank 256 is missing (the largest is 300)");
    CHECK_REFUSED("no-byte", false, "YQ== 0\nYg== 1\n",
                  ": byte 0x00 has no rank: byte-level BPE needs all 256 single bytes");
    CHECK_REFUSED("empty", false, "", ": holds no ranks");
    CHECK_REFUSED("blank", false, "\n\n", ": holds no ranks");

    CHECK(!bpe_load(tmp_path("missing"), berr, sizeof berr));
    CHECK_HAS(berr, "/missing: cannot open: No such file or directory");
    CHECK(!bpe_load(tmp_dir(), berr, sizeof berr));
    CHECK_HAS(berr, ": not a regular file");
    tmp_cleanup();
}

/* ---- against tiktoken, with the real vocabulary ---- */

static bool have_gpt2(void) { return access(GPT2_VOCAB_PATH, R_OK) == 0; }

/* A test that runs only when data/gpt2/ holds GPT-2's vocabulary; else it
 * is left out of the run (not counted as passed) with a line saying so, or
 * fails under CI. */
#define TEST_GPT2(name)                                                                     \
    static void name(void);                                                                 \
    __attribute__((constructor)) static void name##_register(void) {                        \
        if (have_gpt2()) test_register(#name, name);                                        \
        else test_register_missing(#name, "no GPT-2 vocabulary at " GPT2_VOCAB_PATH         \
                                          " (make gpt2-vocab fetches it)");                 \
    }                                                                                       \
    static void name(void)

/* One sample of gpt2-expected.txt. */
typedef struct {
    char name[64];
    size_t bytes;
    long count;
    uint16_t *ids;
} Sample;

/* Reads the next "sample NAME BYTES COUNT" and its ids from *p. */
static bool next_sample(char **p, Sample *s) {
    char *at = *p;
    while ((at = strstr(at, "sample ")) && at != *p && at[-1] != '\n') at++;
    if (!at) return false;
    int used = 0;
    if (sscanf(at, "sample %63s %zu %ld%n", s->name, &s->bytes, &s->count, &used) != 3 ||
        s->count < 0 || s->count > 1000000)
        return false;
    at += used;
    s->ids = malloc((size_t)(s->count ? s->count : 1) * sizeof *s->ids);
    for (long i = 0; i < s->count; i++) {
        char *end;
        long v = strtol(at, &end, 10);
        if (end == at || v < 0 || v >= GPT2_VOCAB) {
            free(s->ids);
            return false;
        }
        s->ids[i] = (uint16_t)v;
        at = end;
    }
    *p = at;
    return true;
}

static void compare_ids(const char *what, const uint16_t *got, long ngot, const Sample *s) {
    long at = 0;
    while (at < ngot && at < s->count && got[at] == s->ids[at]) at++;
    if (ngot == s->count && at == ngot) return;
    char m[512];
    snprintf(m, sizeof m, "%s %s: %ld tokens where tiktoken gives %ld; first difference at %ld "
             "(%d vs %d)", what, s->name, ngot, s->count, at, at < ngot ? got[at] : -1,
             at < s->count ? s->ids[at] : -1);
    test_fail(__FILE__, __LINE__, m);
}

TEST_GPT2(bpe_gpt2_matches_tiktoken) {
    Bpe *b = bpe_load(GPT2_VOCAB_PATH, berr, sizeof berr);
    size_t n;
    char *expected = read_all(EXPECTED, &n), *p = expected;
    CHECK(b && expected);
    if (!b || !expected) {
        bpe_free(b);
        free(expected);
        return;
    }
    CHECK_EQ_INT(bpe_ranks(b), GPT2_RANKS);
    Sample s;
    int samples = 0;
    while (next_sample(&p, &s)) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", SAMPLES, s.name);
        size_t len;
        char *text = read_all(path, &len);
        CHECK(text && len == s.bytes);
        size_t cap = text ? bpe_max_tokens(text, len) + 1 : 1;
        uint16_t *out = malloc(cap * sizeof *out);
        long k = text ? encode_n(b, text, len, out) : -1;
        compare_ids("encoding", out, k, &s);
        free(out);
        free(text);
        free(s.ids);
        samples++;
    }
    CHECK_EQ_INT(samples, 3);
    free(expected);
    bpe_free(b);
}

/* ---- gptc data --tokenizer gpt2 ---- */

static char cout[8192], cerr[8192];
#define run_data(...) test_run(cmd_data, cout, sizeof cout, cerr, sizeof cerr, __VA_ARGS__)

TEST(cmd_data_gpt2_refusals) {
    tmp_setup("bpe");
    write_bytes(tmp_path("a.txt"), "alpha\n", 6);
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--tokenizer", "bpe", NULL), 2);
    CHECK_HAS(cerr, "--tokenizer expects byte or gpt2, found 'bpe'");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--vocab", TINY, NULL), 2);
    CHECK_HAS(cerr, "--vocab goes with --tokenizer gpt2");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--tokenizer", "gpt2", "--vocab", "", NULL), 2);
    CHECK_HAS(cerr, "--vocab needs a file name");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--tokenizer=gpt2", "--vocab", TINY, NULL), 2);
    CHECK_HAS(cerr, TINY ": holds 273 ranks where GPT-2's vocabulary has 50256");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--tokenizer", "gpt2", "--vocab", "@none", NULL),
                 2);
    CHECK_HAS(cerr, "/none: cannot open: No such file or directory");
    /* The default path, from a directory that has no data/gpt2/. */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmp_dir()) == 0);
    int rc = run_data("@a.txt", "-o", "@out", "--tokenizer", "gpt2", NULL);
    CHECK(chdir(cwd) == 0);
    CHECK_EQ_INT(rc, 2);
    CHECK_HAS(cerr, "data/gpt2/gpt2.tiktoken: cannot open: No such file or directory\n"
                    "gptc data: fetch GPT-2's vocabulary with scripts/get-gpt2-vocab.sh, or give "
                    "--vocab PATH");
    struct stat st;
    CHECK(stat(tmp_path("out"), &st) != 0); /* nothing made */
    tmp_cleanup();
}

/* The shard's tokens, or NULL; *n gets their count. */
static uint16_t *read_shard(const char *path, long *n) {
    size_t size;
    char *raw = read_all(path, &size);
    if (!raw || size < 1024) {
        free(raw);
        return NULL;
    }
    *n = (long)((size - 1024) / 2);
    uint16_t *t = malloc((size_t)(*n ? *n : 1) * sizeof *t);
    for (long i = 0; i < *n; i++)
        t[i] = (uint16_t)((unsigned char)raw[1024 + 2 * i] | (unsigned char)raw[1025 + 2 * i] << 8);
    free(raw);
    return t;
}

TEST_GPT2(cmd_data_gpt2_matches_tiktoken) {
    tmp_setup("bpe");
    size_t n;
    char *expected = read_all(EXPECTED, &n), *p = expected;
    CHECK(expected != NULL);
    Sample s;
    int samples = 0;
    while (expected && next_sample(&p, &s)) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", SAMPLES, s.name);
        int rc = run_data(path, "-o", "@out", "--name", "g", "--tokenizer", "gpt2",
                          "--val-fraction", "0", NULL);
        CHECK_EQ_INT(rc, 0);
        CHECK_HAS(cout, "tokens (GPT-2 BPE + EOT, vocabulary 50257)");
        long k = 0;
        uint16_t *t = read_shard(tmp_path("out/g_train_000001.bin"), &k);
        CHECK(t && k == s.count + 1 && t[0] == GPT2_EOT); /* EOT opens the document */
        if (t && k >= 1) compare_ids("gptc data", t + 1, k - 1, &s);
        free(t);
        free(s.ids);
        samples++;
    }
    CHECK_EQ_INT(samples, 3);
    free(expected);
    tmp_cleanup();
}
