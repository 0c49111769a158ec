/*
 * bpe.c: GPT-2's byte-level BPE (see bpe.h): the ranks file loader, the
 * UTF-8 repair, the regular-expression split and the merges.
 *
 * The ranks live in one byte arena (each token's bytes, found by rank) and
 * an open-addressing hash table from bytes to rank, which answers "is this
 * byte string a token, and of which rank" for every candidate merge.
 *
 * The merges run on a piece as a linked list of parts (initially its
 * single bytes) and a min-heap of candidate merges of adjacent parts keyed
 * by (rank, position). Popping the heap gives the pair tiktoken merges
 * next: the lowest rank, the leftmost on a tie. A merge makes the pairs it
 * touched stale; rather than removing them from the heap, each entry keeps
 * the span of bytes it covers, and a popped entry whose left part no
 * longer covers that span with its right neighbour is skipped. This is
 * O(n log n) in the piece length, where tiktoken's rescan is O(n^2): the
 * same result, and no slowdown on a text with a very long piece (a line of
 * 100,000 letters is one piece).
 *
 * The split uses PCRE2 (UTF and UCP modes, JIT when available). GPT-2's
 * expression is
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with \s written out as Unicode's White_Space set. tiktoken runs it in
 * Rust, where \s is exactly White_Space; PCRE2's \s under UCP also takes
 * U+180E MONGOLIAN VOWEL SEPARATOR, which left White_Space in Unicode 6.3,
 * so naming the set keeps the two engines splitting alike. \p{L} and
 * \p{N} come from PCRE2's Unicode tables (Unicode 14 in Debian 12's
 * 10.42) and tiktoken's from its Rust regex crate's, which may be newer:
 * a character assigned after Unicode 14 may split differently.
 *
 * Pieces are found one match at a time from where the last one ended;
 * GPT-2's branches between them take any character, so the pieces tile the
 * text.
 */
#include "runtime/data/bpe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A ranks file larger than this is not a vocabulary (GPT-2's is 0.8 MB). */
#define BPE_MAX_FILE (256u << 20)

/* Unicode's White_Space property (stable since Unicode 6.3), for use inside
 * a character class. */
#define WS                                                                               \
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
    "\\x{202F}\\x{205F}\\x{3000}"

static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
    "|[" WS "]+(?![^" WS "])|[" WS "]+";

/* A candidate merge: the parts starting at pos and covering span bytes. */
typedef struct {
    uint32_t rank;
    size_t pos, span;
} Cand;

struct Bpe {
    int n;                   /* ranks 0..n-1 */
    unsigned char *arena;    /* the tokens' bytes */
    uint32_t *off, *len;     /* token of rank r: arena[off[r] .. off[r] + len[r]) */
    uint16_t *table;         /* hash table of ranks, EMPTY where free */
    size_t mask;             /* table size - 1 (a power of two) */
    pcre2_code *re;
    pcre2_match_data *md;
    /* Scratch, grown as needed: per part of a piece, where it ends, the
     * part before it, whether it still starts a part and its rank; the
     * candidate heap; the UTF-8-repaired text. */
    size_t *end, *prev;
    unsigned char *alive;
    uint16_t *prank;
    Cand *heap;
    size_t piece_cap;
    char *clean;
    size_t clean_cap;
};

#define EMPTY UINT16_MAX

/* ---- the hash table ---- */

/* FNV-1a: tokens are short, and this spreads them well enough. */
static size_t hash_bytes(const unsigned char *s, size_t n) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* The table slot of the token s[0..n): the one holding it, or the free
 * slot where it would go. */
static size_t find_slot(const Bpe *b, const unsigned char *s, size_t n) {
    size_t i = hash_bytes(s, n) & b->mask;
    for (;;) {
        uint16_t r = b->table[i];
        if (r == EMPTY) return i;
        if (b->len[r] == n && !memcmp(b->arena + b->off[r], s, n)) return i;
        i = (i + 1) & b->mask;
    }
}

/* The rank of the token s[0..n), or -1 when it is not one. */
static int lookup(const Bpe *b, const unsigned char *s, size_t n) {
    uint16_t r = b->table[find_slot(b, s, n)];
    return r == EMPTY ? -1 : r;
}

/* ---- the loader ---- */

static void load_error(char *err, size_t errcap, const char *path, size_t line, const char *fmt,
                       long a, long b) {
    char what[256];
    snprintf(what, sizeof what, fmt, a, b);
    if (line) snprintf(err, errcap, "%s:%zu: %s", path, line, what);
    else snprintf(err, errcap, "%s: %s", path, what);
}

/* Reads the whole file, at most BPE_MAX_FILE bytes. */
static char *slurp(const char *path, size_t *size, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        snprintf(err, errcap, "%s: not a regular file", path);
    else if ((uint64_t)st.st_size > BPE_MAX_FILE)
        snprintf(err, errcap, "%s: %lld bytes is too large for a ranks file (at most %u)", path,
                 (long long)st.st_size, BPE_MAX_FILE);
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        snprintf(err, errcap, "%s: out of memory", path);
    else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size || ferror(f)) {
        snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *size = (size_t)st.st_size;
    return buf;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict standard base64 (padded, no stray characters, zero leftover
 * bits), as tiktoken's files are written. Returns the decoded length, or
 * -1. out must hold n / 4 * 3 bytes. */
static long b64_decode(const char *s, size_t n, unsigned char *out) {
    if (n == 0 || n % 4) return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    size_t k = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n - pad; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[k++] = (unsigned char)(acc >> 16);
            out[k++] = (unsigned char)(acc >> 8);
            out[k++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (pad == 2) {
        if (acc & 0xF) return -1;
        out[k++] = (unsigned char)(acc >> 4);
    } else if (pad == 1) {
        if (acc & 0x3) return -1;
        out[k++] = (unsigned char)(acc >> 10);
        out[k++] = (unsigned char)(acc >> 2);
    }
    return (long)k;
}

/* A decimal rank below BPE_MAX_RANKS, or -1. */
static long parse_rank(const char *s, size_t n) {
    if (n == 0) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
        if (v >= BPE_MAX_RANKS) return -1;
    }
    return v;
}

static size_t count_lines(const char *s, size_t n) {
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    return lines;
}

/* Loader state: the file, where the lines are, and what they gave. */
typedef struct {
    const char *path;
    uint32_t *rank_line; /* rank -> the line that gave it, 0 when none yet */
    size_t arena_len;
    int max_rank;
    char *err;
    size_t errcap;
} Loader;

/* One line "BASE64 RANK", without its line end. */
static bool load_line(Bpe *b, Loader *L, const char *s, size_t n, size_t line) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s) {
        load_error(L->err, L->errcap, L->path, line,
                   sp ? "expected 'BASE64 RANK', found no token before the space"
                      : "expected 'BASE64 RANK', found no space (a truncated file?)",
                   0, 0);
        return false;
    }
    size_t tn = (size_t)(sp - s);
    long rank = parse_rank(sp + 1, n - tn - 1);
    if (rank < 0) {
        load_error(L->err, L->errcap, L->path, line,
                   n - tn - 1 == 0 ? "no rank after the token (a truncated file?)"
                                   : "the rank must be a whole number from 0 to %ld",
                   BPE_MAX_RANKS - 1, 0);
        return false;
    }
    unsigned char *tok = b->arena + L->arena_len;
    long tl = b64_decode(s, tn, tok);
    if (tl <= 0) {
        load_error(L->err, L->errcap, L->path, line, "the token is not valid base64", 0, 0);
        return false;
    }
    if (L->rank_line[rank]) {
        load_error(L->err, L->errcap, L->path, line, "rank %ld is given twice (first on line %ld)",
                   rank, (long)L->rank_line[rank]);
        return false;
    }
    b->off[rank] = (uint32_t)L->arena_len;
    b->len[rank] = (uint32_t)tl;
    size_t slot = find_slot(b, tok, (size_t)tl);
    if (b->table[slot] != EMPTY) {
        uint16_t other = b->table[slot];
        load_error(L->err, L->errcap, L->path, line,
                   "this token already has rank %ld (line %ld)", other, (long)L->rank_line[other]);
        return false;
    }
    b->table[slot] = (uint16_t)rank;
    L->rank_line[rank] = (uint32_t)line;
    L->arena_len += (size_t)tl;
    b->n++;
    if (rank > L->max_rank) L->max_rank = (int)rank;
    return true;
}

/* Every line, a '\r' before its '\n' allowed; empty lines are skipped, as
 * tiktoken skips them (a CRLF file's blank "\r\n" too). */
static bool load_lines(Bpe *b, Loader *L, const char *text, size_t size) {
    size_t line = 0;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(text + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : size - i;
        size_t body = n && text[i + n - 1] == '\r' ? n - 1 : n;
        line++;
        if (body && !load_line(b, L, text + i, body, line)) return false;
        i += n + 1;
    }
    return true;
}

/* Ranks 0..N-1, each byte a token: what the encoder relies on. */
static bool check_ranks(const Bpe *b, const Loader *L) {
    if (b->n == 0) {
        load_error(L->err, L->errcap, L->path, 0, "holds no ranks", 0, 0);
        return false;
    }
    for (int r = 0; r < b->n; r++) {
        if (L->rank_line[r]) continue;
        load_error(L->err, L->errcap, L->path, 0,
                   "ranks must be 0..N-1 without gaps: rank %ld is missing (the largest is %ld)",
                   r, L->max_rank);
        return false;
    }
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        if (lookup(b, &byte, 1) >= 0) continue;
        load_error(L->err, L->errcap, L->path, 0,
                   "byte 0x%02lX has no rank: byte-level BPE needs all 256 single bytes", c, 0);
        return false;
    }
    return true;
}

static bool compile_pattern(Bpe *b, char *err, size_t errcap) {
    int code;
    PCRE2_SIZE at;
    b->re = pcre2_compile((PCRE2_SPTR)gpt2_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &code, &at, NULL);
    if (!b->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errcap, "GPT-2's regular expression: %s at offset %zu", (char *)msg,
                 (size_t)at);
        return false;
    }
    (void)pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE); /* the interpreter works too, slower */
    b->md = pcre2_match_data_create_from_pattern(b->re, NULL);
    if (!b->md) snprintf(err, errcap, "out of memory");
    return b->md != NULL;
}

/* The arrays sized by the file: no line gives more token bytes than its
 * base64, and there are at most as many ranks as lines. */
static bool alloc_tables(Bpe *b, Loader *L, size_t size, size_t lines) {
    size_t ranks = lines < BPE_MAX_RANKS ? lines : BPE_MAX_RANKS;
    size_t slots = 1024;
    while (slots < 2 * ranks) slots *= 2;
    b->arena = malloc(size / 4 * 3 + 1);
    b->off = calloc(BPE_MAX_RANKS, sizeof *b->off);
    b->len = calloc(BPE_MAX_RANKS, sizeof *b->len);
    b->table = malloc(slots * sizeof *b->table);
    L->rank_line = calloc(BPE_MAX_RANKS, sizeof *L->rank_line);
    if (!b->arena || !b->off || !b->len || !b->table || !L->rank_line) {
        snprintf(L->err, L->errcap, "%s: out of memory", L->path);
        return false;
    }
    memset(b->table, 0xFF, slots * sizeof *b->table); /* all EMPTY */
    b->mask = slots - 1;
    return true;
}

Bpe *bpe_load(const char *path, char *err, size_t errcap) {
    size_t size;
    char *text = slurp(path, &size, err, errcap);
    if (!text) return NULL;
    Bpe *b = calloc(1, sizeof *b);
    Loader L = {.path = path, .max_rank = -1, .err = err, .errcap = errcap};
    bool ok = b && alloc_tables(b, &L, size, count_lines(text, size)) &&
              load_lines(b, &L, text, size) && check_ranks(b, &L) &&
              compile_pattern(b, err, errcap);
    if (!b) snprintf(err, errcap, "%s: out of memory", path);
    free(L.rank_line);
    free(text);
    if (ok) return b;
    bpe_free(b);
    return NULL;
}

void bpe_free(Bpe *b) {
    if (!b) return;
    pcre2_match_data_free(b->md);
    pcre2_code_free(b->re);
    free(b->arena);
    free(b->off);
    free(b->len);
    free(b->table);
    free(b->end);
    free(b->prev);
    free(b->alive);
    free(b->prank);
    free(b->heap);
    free(b->clean);
    free(b);
}

int bpe_ranks(const Bpe *b) { return b->n; }

const unsigned char *bpe_token(const Bpe *b, int rank, size_t *len) {
    *len = b->len[rank];
    return b->arena + b->off[rank];
}


/* ---- UTF-8 ---- */

/* The bytes of the sequence at s[0..n): the whole of a valid one (*valid
 * set), else its maximal subpart (the longest start of some valid sequence,
 * at least 1 byte), which becomes one U+FFFD. From Unicode's table of
 * well-formed UTF-8 (Table 3-7): the second byte's range depends on the
 * first, which rules out overlong forms, surrogates and code points past
 * U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n, bool *valid) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    *valid = c < 0x80;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else return 1; /* 80..C1, F5..FF never start a sequence */
    size_t i = 1;
    for (; i <= need && i < n; i++) {
        if (s[i] < lo || s[i] > hi) break;
        lo = 0x80;
        hi = 0xBF;
    }
    *valid = i == need + 1;
    return i;
}

/* Counts the bytes of text once repaired, or stops at the first invalid
 * subpart when first_bad is set (then returns 0 at once). */
static size_t repaired_len(const char *text, size_t len, bool first_bad) {
    const unsigned char *s = (const unsigned char *)text;
    size_t out = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) { /* the common case, without the call */
            i++;
            out++;
            continue;
        }
        bool valid;
        size_t n = utf8_seq(s + i, len - i, &valid);
        if (!valid && first_bad) return 0;
        i += n;
        out += valid ? n : 3;
    }
    return out;
}

size_t bpe_max_tokens(const char *text, size_t len) {
    if (len > SIZE_MAX / 3) return SIZE_MAX;
    return repaired_len(text, len, false);
}

bool bpe_utf8_valid(const char *text, size_t len) {
    return repaired_len(text, len, true) == len;
}

size_t bpe_utf8_replace(const char *text, size_t len, char *out) {
    const unsigned char *s = (const unsigned char *)text;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        bool valid;
        size_t n = utf8_seq(s + i, len - i, &valid);
        if (valid) {
            memcpy(out + k, s + i, n);
            k += n;
        } else {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3;
        }
        i += n;
    }
    return k;
}

/* ---- the split ---- */

int bpe_next_piece(Bpe *b, const char *text, size_t len, size_t *pos, size_t *start, size_t *end,
                   char *err, size_t errcap) {
    if (*pos >= len) return 0;
    /* The text was checked (or repaired) already, so PCRE2 need not. */
    int rc = pcre2_match(b->re, (PCRE2_SPTR)text, len, *pos, PCRE2_NO_UTF_CHECK, b->md, NULL);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(b->md);
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        snprintf(err, errcap, "splitting the text at byte %zu: %s", *pos, (char *)msg);
        return -1;
    }
    /* Every character is whitespace, a letter, a digit or something else,
     * and one branch takes each, so pieces follow one another. */
    if (ov[0] != *pos || ov[1] <= ov[0]) {
        snprintf(err, errcap, "splitting the text at byte %zu: no piece starts there", *pos);
        return -1;
    }
    *start = ov[0];
    *end = *pos = ov[1];
    return 1;
}

/* ---- the merges ---- */

static bool grow_scratch(Bpe *b, size_t n) {
    if (n <= b->piece_cap) return true;
    size_t cap = b->piece_cap ? b->piece_cap : 64;
    while (cap < n) cap *= 2;
    size_t *e = realloc(b->end, cap * sizeof *e);
    if (e) b->end = e;
    size_t *p = realloc(b->prev, cap * sizeof *p);
    if (p) b->prev = p;
    unsigned char *a = realloc(b->alive, cap);
    if (a) b->alive = a;
    uint16_t *r = realloc(b->prank, cap * sizeof *r);
    if (r) b->prank = r;
    Cand *h = realloc(b->heap, 3 * cap * sizeof *h); /* n - 1 pairs + 2 per merge */
    if (h) b->heap = h;
    if (!e || !p || !a || !r || !h) return false;
    b->piece_cap = cap;
    return true;
}

static bool cand_less(const Cand *x, const Cand *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(Cand *h, size_t *n, Cand c) {
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static Cand heap_pop(Cand *h, size_t *n) {
    Cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Queues the merge of the parts covering piece[from .. to) if it is a
 * token. */
static void propose(Bpe *b, const unsigned char *piece, size_t from, size_t to, size_t *nheap) {
    int r = lookup(b, piece + from, to - from);
    if (r >= 0) heap_push(b->heap, nheap, (Cand){(uint32_t)r, from, to - from});
}

/* Merges piece[0..n) (n >= 2) from single bytes; leaves the parts in
 * b->end (part i ends where the next starts) with their ranks in b->prank. */
static void merge(Bpe *b, const unsigned char *piece, size_t n) {
    size_t *end = b->end, *prev = b->prev, nheap = 0;
    for (size_t i = 0; i < n; i++) {
        end[i] = i + 1;
        prev[i] = i - 1; /* wraps for i = 0; never read there */
        b->alive[i] = 1;
        b->prank[i] = (uint16_t)lookup(b, piece + i, 1);
    }
    for (size_t i = 0; i + 1 < n; i++) propose(b, piece, i, i + 2, &nheap);
    while (nheap) {
        Cand c = heap_pop(b->heap, &nheap);
        size_t p = c.pos, q = end[p];
        /* Stale: p was merged into a part before it, or p or its right
         * neighbour grew since this pair was queued. */
        if (!b->alive[p] || q >= n || end[q] != p + c.span) continue;
        b->alive[q] = 0;
        end[p] = end[q];
        b->prank[p] = (uint16_t)c.rank;
        if (end[p] < n) {
            prev[end[p]] = p;
            propose(b, piece, p, end[end[p]], &nheap);
        }
        if (p > 0) propose(b, piece, prev[p], end[p], &nheap);
    }
}

/* Appends the tokens of one piece to out[*k..]. */
static bool encode_piece(Bpe *b, const unsigned char *piece, size_t n, uint16_t *out, size_t *k) {
    int whole = lookup(b, piece, n); /* most pieces are one token */
    if (whole >= 0) {
        out[(*k)++] = (uint16_t)whole;
        return true;
    }
    if (!grow_scratch(b, n)) return false;
    merge(b, piece, n);
    for (size_t i = 0; i < n; i = b->end[i]) out[(*k)++] = b->prank[i];
    return true;
}

/* The text to split: text itself when it is valid UTF-8, else a repaired
 * copy in b->clean. */
static const char *valid_text(Bpe *b, const char *text, size_t *len) {
    if (bpe_utf8_valid(text, *len)) return text;
    size_t need = bpe_max_tokens(text, *len);
    if (need == SIZE_MAX) return NULL;
    if (need > b->clean_cap) {
        char *grown = realloc(b->clean, need ? need : 1);
        if (!grown) return NULL;
        b->clean = grown;
        b->clean_cap = need;
    }
    *len = bpe_utf8_replace(text, *len, b->clean);
    return b->clean;
}

bool bpe_encode(Bpe *b, const char *text, size_t len, uint16_t *out, size_t *n, char *err,
                size_t errcap) {
    *n = 0;
    const char *t = valid_text(b, text, &len);
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    size_t pos = 0, start, end, k = 0;
    int rc;
    while ((rc = bpe_next_piece(b, t, len, &pos, &start, &end, err, errcap)) > 0) {
        if (!encode_piece(b, (const unsigned char *)t + start, end - start, out, &k)) {
            snprintf(err, errcap, "out of memory");
            return false;
        }
    }
    *n = k;
    return rc == 0;
}
