/*
 * data.h: token shards in the modded-nanogpt / llm.c format, read as the
 * recipe reads them (docs/recipe.md, 'Data'; docs/design.md, 'Files').
 *
 * A shard is 256 little-endian int32 (magic 20240520, version 1, token
 * count, zeros) and then the tokens as uint16. Shards are taken in sorted
 * glob order, one epoch. A global batch is `ranks` slices of T tokens: rank
 * r reads tokens[pos + r T, pos + r T + T + 1) (inputs, then targets shifted
 * by one), then pos advances by ranks T. Before each batch, if
 * pos + ranks T + 1 >= shard length, the next shard is opened at pos 0 and
 * the rest of the old one is dropped. The >= is the recipe's own (one token
 * to spare beyond the B + 1 a batch reads), so a shard must hold at least
 * ranks T + 2 tokens.
 *
 * Every shard is checked when the loader opens (header, file size, token ids
 * below the vocabulary, enough tokens for one batch), so a bad file is an
 * error at the start of a run, never a crash in the middle of one.
 */
#ifndef GPTC_DATA_H
#define GPTC_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_INTS 256

typedef struct DataLoader DataLoader;

/* Where the loader stands: saved in checkpoints for an exact resume. */
typedef struct {
    int32_t shard;
    int64_t pos;
    int32_t epoch; /* passes over the data completed before this one */
} DataPos;

/* Opens every shard matching `glob`. `batch_tokens` = ranks x T. On failure
 * returns NULL and writes a message naming the file and the problem. */
DataLoader *data_open(const char *glob, int64_t batch_tokens, int vocab_size, char *err,
                      size_t errcap);
void data_close(DataLoader *d);

/* With seed 0 (the default) the batches come in the recipe's order; with
 * any other seed, the batches of each shard come in an order shuffled by
 * the seed, the shard and the epoch. Positions (data_tell, data_seek) stay
 * those of the walk, so a checkpoint resumes the same order. */
void data_shuffle(DataLoader *d, uint64_t seed);
/* Inputs and targets [T] of rank `rank` in the current batch. */
void data_batch(DataLoader *d, int rank, int T, int *inputs, int *targets);

/* Moves to the next batch. Returns false when the data is exhausted (the
 * epoch is over); the caller decides whether that is an error. The loader
 * then stays on its last batch, and every later call returns false too. */
bool data_advance(DataLoader *d);

/* Back to the first batch (validation starts at 0 every time). */
void data_rewind(DataLoader *d);

/* Back to the first batch for another pass over the data (the epoch
 * counts up): train.data.repeat. */
void data_wrap(DataLoader *d);

/* How many batches the loader still gives, the current one included
 * (data_advance succeeds one time fewer); and how many one pass holds. */
int64_t data_batches_left(const DataLoader *d);
int64_t data_batches_total(const DataLoader *d);

DataPos data_tell(const DataLoader *d);
/* False (with a message) when `p` lies outside these shards. */
bool data_seek(DataLoader *d, DataPos p, char *err, size_t errcap);

/* Total tokens across the shards, and how many files. */
int64_t data_total_tokens(const DataLoader *d);
int data_num_shards(const DataLoader *d);

/* Shard i's path and token count (sorted glob order), for logs and
 * messages; NULL and -1 when i is out of range. */
const char *data_shard_path(const DataLoader *d, int i);
int64_t data_shard_tokens(const DataLoader *d, int i);

/* Writes one shard atomically (atomic_file.h: PATH.tmp, fsync, rename to
 * PATH, fsync the directory). On failure PATH is untouched and PATH.tmp
 * removed. */
bool shard_write(const char *path, const uint16_t *tokens, int64_t n, char *err, size_t errcap);

#endif
