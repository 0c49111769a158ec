/*
 * tokenize.h: the byte-level tokenizer of the CPU-scale models. The
 * vocabulary has 257 tokens: bytes 0..255 are tokens 0..255 and 256 is the
 * end-of-text token EOT. As in the recipe (docs/recipe.md, 'Data'), every
 * document is written as [EOT] + its tokens, so EOT opens each document
 * and acts as BOS. (GPT-2's BPE, `gptc data --tokenizer gpt2`,
 * is in bpe.h.)
 *
 * Also the document splitter of `gptc data --paragraphs`: a paragraph is a
 * run of non-blank lines, and a blank line is one that holds nothing but
 * spaces, tabs or a carriage return.
 */
#ifndef GPTC_TOKENIZE_H
#define GPTC_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BYTE_VOCAB 257
#define BYTE_EOT 256

/* Writes [EOT] + the bytes of text[0..len) to out, which must hold len + 1
 * tokens; returns len + 1. */
size_t tokenize_document(const char *text, size_t len, uint16_t *out);

/* The next paragraph of text[*pos..len): its start and length (the lines
 * with the newlines between them, without the last line's newline). Moves
 * *pos past it. Returns false when only blank lines are left. */
bool next_paragraph(const char *text, size_t len, size_t *pos, size_t *start, size_t *plen);

#endif
