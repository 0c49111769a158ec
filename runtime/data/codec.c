/*
 * codec.c: a run's tokenizer by its vocabulary (codec.h).
 */
#include "runtime/data/codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/tokenize.h"

#define GPT2_VOCAB 50257

bool codec_open(Codec *c, const ModelSpec *s, const char *ranks, char *err, size_t errlen) {
    c->bpe = NULL;
    c->eot = s->vocab.eot;
    if (s->vocab.size == BYTE_VOCAB) return true;
    if (s->vocab.size != GPT2_VOCAB)
        return snprintf(err, errlen, "a %d-token vocabulary: gptc knows the byte tokenizer (%d) and GPT-2's (%d)",
                        s->vocab.size, BYTE_VOCAB, GPT2_VOCAB),
               false;
    return (c->bpe = bpe_load(ranks, err, errlen)) != NULL;
}

void codec_close(Codec *c) {
    if (c->bpe) bpe_free(c->bpe);
    c->bpe = NULL;
}

int codec_encode(const Codec *c, const char *text, int *out, int cap, char *err, size_t errlen) {
    size_t len = strlen(text), n = 0;
    uint16_t *buf = malloc(sizeof(uint16_t) * (bpe_max_tokens(text, len) + len + 1));
    bool ok = buf != NULL;
    if (!ok) snprintf(err, errlen, "out of memory");
    else if (!c->bpe) n = tokenize_document(text, len, buf);
    else if ((ok = bpe_encode(c->bpe, text, len, buf + 1, &n, err, errlen))) buf[0] = (uint16_t)c->eot, n++;
    if (ok && n > (size_t)cap) ok = false, snprintf(err, errlen, "the text is %zu tokens; the model takes %d", n, cap);
    for (size_t i = 0; ok && i < n; i++) out[i] = buf[i];
    free(buf);
    return ok ? (int)n : -1;
}

const unsigned char *codec_piece(const Codec *c, int id, size_t *len) {
    static unsigned char byte;
    *len = 0;
    if (id == c->eot || id < 0) return NULL;
    if (c->bpe) return bpe_token(c->bpe, id, len);
    if (id >= 256) return NULL;
    byte = (unsigned char)id;
    *len = 1;
    return &byte;
}
