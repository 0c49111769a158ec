/*
 * codec.h: a run's tokenizer, chosen by its vocabulary, for the commands
 * that turn text into tokens and back (gptc sample, gptc lens): the byte
 * tokenizer for 257 tokens (tokenize.h), GPT-2's BPE for 50257 (bpe.h,
 * from its ranks file). A text is encoded as a document is: [EOT] + its
 * tokens.
 */
#ifndef GPTC_CODEC_H
#define GPTC_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/data/bpe.h"
#include "compiler/lang/spec.h"

typedef struct {
    Bpe *bpe; /* NULL: bytes */
    int eot;
} Codec;

/* The codec of spec s's vocabulary; `ranks` is GPT-2's ranks file. False
 * with a message for another vocabulary or a missing ranks file. */
bool codec_open(Codec *c, const ModelSpec *s, const char *ranks, char *err, size_t errlen);
void codec_close(Codec *c);

/* [EOT] + text's tokens into out (at most cap); how many, or -1 with err. */
int codec_encode(const Codec *c, const char *text, int *out, int cap, char *err, size_t errlen);

/* Token id's bytes (none for EOT and padding); *len their count. */
const unsigned char *codec_piece(const Codec *c, int id, size_t *len);

#endif
