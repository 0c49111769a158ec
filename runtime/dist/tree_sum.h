/*
 * tree_sum.h: sums in one fixed order, whoever computes them.
 *
 * A step's gradient is the sum over the global batch's slices (train.ranks
 * of them). A process that computes several slices (gradient accumulation)
 * adds them with the aligned pairwise tree: slices 2i and 2i+1 first, then
 * aligned pairs of those, and so on; a trailing partial subtree is added to
 * the left of it last. coll.h's cross-rank sum uses the same tree over the
 * ranks. So when each of N ranks takes a power-of-two count m of
 * consecutive slices, the N partial sums are exactly the subtrees of the
 * whole sum, and the result is bit-identical for every such N (1, 2, 4 ...
 * ranks for 4 slices); for other splits it differs in rounding only.
 *
 * Memory: at most floor(log2(leaves)) + 1 buffers of n floats.
 */
#ifndef GPTC_TREE_SUM_H
#define GPTC_TREE_SUM_H

#include <stdbool.h>
#include <stddef.h>

#define TREE_SUM_MAX_DEPTH 32

typedef struct {
    size_t n;                             /* floats per buffer */
    int depth;                            /* subtrees on the stack */
    float *buf[TREE_SUM_MAX_DEPTH];       /* buf[i]: the sum of subtree i */
    long long leaves[TREE_SUM_MAX_DEPTH]; /* how many leaves subtree i holds */
} TreeSum;

/* Buffers of n floats, allocated as the stack grows. */
void tree_sum_init(TreeSum *t, size_t n);
void tree_sum_free(TreeSum *t);

/* Adds the next leaf x[0..n) (copied). False when out of memory. */
bool tree_sum_add(TreeSum *t, const float *x);

/* The sum of the leaves added since the last call (NULL if none); valid
 * until the next tree_sum_add. Empties the stack. */
float *tree_sum_finish(TreeSum *t);

/* The same order for a few doubles: x[0..count) summed over the tree. */
double tree_sum_f64(const double *x, int count);

#endif
