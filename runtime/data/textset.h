/*
 * textset.h: a set of texts, each kept as its SHA-256 (the first 128 bits)
 * rather than its bytes. `gptc data` puts the validation documents in one,
 * so that training can drop its copies of them without holding the
 * validation text. 128 bits make a false match (a document dropped for
 * merely sharing a hash) too unlikely to matter: about n^2 / 2^129 for n
 * documents.
 */
#ifndef GPTC_TEXTSET_H
#define GPTC_TEXTSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[4];
} TextKey;

typedef struct {
    TextKey *key;  /* open addressing, cap slots */
    bool *used;
    size_t cap, n;
} TextSet;

TextKey text_key(const char *text, size_t len);

/* Adds the key (again is fine); false when out of memory. */
bool textset_add(TextSet *s, TextKey k);

bool textset_has(const TextSet *s, TextKey k);

void textset_free(TextSet *s);

#endif
