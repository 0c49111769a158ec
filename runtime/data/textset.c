/* textset.c: see textset.h. Linear probing from the key's first word, which
 * SHA-256 spreads evenly; the table doubles when half full. */
#include "runtime/data/textset.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/util/sha256.h"

TextKey text_key(const char *text, size_t len) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, text, len);
    sha256_finish(&s);
    TextKey k;
    memcpy(k.h, s.h, sizeof k.h);
    return k;
}

static bool same(TextKey a, TextKey b) { return !memcmp(a.h, b.h, sizeof a.h); }

/* The slot holding k, or the empty slot where it would go. */
static size_t slot(const TextSet *s, TextKey k) {
    size_t i = k.h[0] & (s->cap - 1);
    while (s->used[i] && !same(s->key[i], k)) i = (i + 1) & (s->cap - 1);
    return i;
}

static bool grow(TextSet *s) {
    TextSet g = {.cap = s->cap ? s->cap * 2 : 1024};
    g.key = malloc(g.cap * sizeof *g.key);
    g.used = calloc(g.cap, sizeof *g.used);
    if (!g.key || !g.used) {
        textset_free(&g);
        return false;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->used[i]) continue;
        size_t j = slot(&g, s->key[i]);
        g.key[j] = s->key[i];
        g.used[j] = true;
        g.n++;
    }
    textset_free(s);
    *s = g;
    return true;
}

bool textset_add(TextSet *s, TextKey k) {
    if (2 * (s->n + 1) > s->cap && !grow(s)) return false;
    size_t i = slot(s, k);
    if (s->used[i]) return true;
    s->key[i] = k;
    s->used[i] = true;
    s->n++;
    return true;
}

bool textset_has(const TextSet *s, TextKey k) { return s->cap && s->used[slot(s, k)]; }

void textset_free(TextSet *s) {
    free(s->key);
    free(s->used);
    *s = (TextSet){0};
}
