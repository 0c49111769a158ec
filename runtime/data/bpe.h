/*
 * bpe.h: GPT-2's byte-level BPE tokenizer, as tiktoken's 'gpt2' encoding
 * runs it, for `gptc data --tokenizer gpt2`.
 *
 * The vocabulary is a tiktoken ranks file: one line per token, the token's
 * bytes in base64, a space, and its rank (its id). For GPT-2 that is
 * gpt2.tiktoken, 50256 ranks (scripts/get-gpt2-vocab.sh fetches it); the
 * end-of-text token is the next id, 50256, so the vocabulary is 50257.
 *
 * Encoding a text takes three steps, as tiktoken's encode_ordinary:
 *   1. bytes that are not valid UTF-8 become U+FFFD, as Python does when it
 *      reads a file with errors='replace' (tiktoken works on str, so some
 *      such decoding always comes first);
 *   2. GPT-2's regular expression splits the text into pieces (words with
 *      their leading space, numbers, punctuation runs, whitespace runs);
 *   3. each piece is merged from single bytes into tokens, always merging
 *      the adjacent pair whose joined bytes have the lowest rank (the
 *      leftmost when two tie), until no adjacent pair is a token.
 * Special tokens are never matched in the text: "<|endoftext|>" in a
 * document is ordinary text, as in encode_ordinary.
 *
 * A Bpe keeps scratch buffers, so one Bpe must not encode on two threads at
 * once.
 */
#ifndef GPTC_BPE_H
#define GPTC_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPT2_RANKS 50256 /* tokens in gpt2.tiktoken */
#define GPT2_EOT 50256   /* <|endoftext|>, the id after the last rank */
#define GPT2_VOCAB 50257
#define GPT2_VOCAB_PATH "data/gpt2/gpt2.tiktoken"

/* Ranks must stay below this: tokens are stored as uint16 and the EOT
 * (one past the last rank) must fit too. */
#define BPE_MAX_RANKS 65535

typedef struct Bpe Bpe;

/* Reads a tiktoken ranks file. Refuses, with "PATH:LINE: what" in err, a
 * line that is not "BASE64 RANK", bad base64, an empty token, a rank out of
 * range, a rank or token given twice, ranks that are not 0..N-1, and a
 * vocabulary lacking one of the 256 single bytes (byte-level BPE needs them
 * all). Returns NULL on any error. */
Bpe *bpe_load(const char *path, char *err, size_t errcap);
void bpe_free(Bpe *b);

/* The number of ranks N; the EOT token is N and the vocabulary N + 1. */
int bpe_ranks(const Bpe *b);

/* The bytes of token `rank` (0 <= rank < bpe_ranks), *len of them: what
 * decoding needs. */
const unsigned char *bpe_token(const Bpe *b, int rank, size_t *len);

/* The most tokens text[0..len) can give: its length once its invalid
 * UTF-8 is replaced by U+FFFD, since no token is shorter than a byte. That
 * is len for valid UTF-8 and at most 3 * len (SIZE_MAX if that overflows). */
size_t bpe_max_tokens(const char *text, size_t len);

/* Encodes text[0..len) into out, which must hold bpe_max_tokens(text, len);
 * *n gets the count. Fails (err says why) only when out of memory or when
 * the regular expression engine fails. */
bool bpe_encode(Bpe *b, const char *text, size_t len, uint16_t *out, size_t *n, char *err,
                size_t errcap);

/* The steps of bpe_encode, for tests. */

/* Copies text to out, each maximal invalid UTF-8 subpart replaced by
 * U+FFFD (EF BF BD), as Python's decoder with errors='replace'; out must
 * hold 3 * len bytes. Returns the length written. */
size_t bpe_utf8_replace(const char *text, size_t len, char *out);

/* Whether text[0..len) is valid UTF-8 (no surrogates, nothing above
 * U+10FFFF, no overlong forms). */
bool bpe_utf8_valid(const char *text, size_t len);

/* The next piece of valid UTF-8 text at *pos under GPT-2's regular
 * expression: its bounds [*start, *end), and *pos moved to *end. Returns 1
 * for a piece, 0 at the end of the text, -1 when the engine fails (err
 * says why). */
int bpe_next_piece(Bpe *b, const char *text, size_t len, size_t *pos, size_t *start, size_t *end,
                   char *err, size_t errcap);

#endif
