/*
 * arena.h: liveness of the plan's arena buffers over the step's launch
 * order, and their packing into one arena.
 *
 * A buffer lives from the first step that touches it (its first write) to
 * the last step that reads it, forward and backward being one order, so a
 * tensor saved for the backward pass lives across it; the loss, read by
 * the executor after the step, lives to the end. Offsets are size rules
 * like the sizes, off_per_token * T + off_fixed bytes, chosen so that two
 * buffers whose lifetimes overlap are disjoint at every T: one ends at or
 * below the other's start in both components. Greedy: largest first, each
 * at the lowest such offset (measured at the reference T). Per-token parts
 * are multiples of 256 / gcd(256, block_size) bytes and fixed parts of 256,
 * so every offset is 256-byte aligned at every T that is a multiple of the
 * window block size.
 */
#ifndef GPTC_ARENA_H
#define GPTC_ARENA_H

#include "compiler/plan/lower.h"

typedef struct {
    int64_t arena_per_token, arena_fixed; /* the arena: per_token * T + fixed bytes */
    int64_t total_per_token, total_fixed; /* every arena buffer apart (no reuse) */
    int narena;                           /* arena buffers */
} ArenaLayout;

/* Fills every arena buffer's first/last and offsets. ref_T: the T that
 * breaks ties between candidate offsets (the model's tokens per rank). */
void arena_pack(Plan *p, int64_t ref_T, ArenaLayout *out);

/* Bytes at T tokens of a size rule from ArenaLayout. */
static inline int64_t arena_bytes(int64_t per_token, int64_t fixed, int64_t T) { return per_token * T + fixed; }

/* The aligned byte size of an arena buffer (per token and fixed parts). */
void arena_buf_size(const Plan *p, const PlanBuf *b, int64_t *per_token, int64_t *fixed);

/* Checks the packing: no two arena buffers with overlapping lifetimes
 * share bytes at T, every offset is 256-aligned at T, and every read of an
 * arena buffer follows a write of it in an earlier step or the same step.
 * False with the first problem in err. */
bool arena_verify(const Plan *p, int64_t T, char *err, size_t errlen);

#endif
