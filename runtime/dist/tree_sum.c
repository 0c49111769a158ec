/*
 * tree_sum.c: the aligned pairwise sum (see tree_sum.h).
 *
 * A stack of subtrees, as a binary counter: a new leaf is a subtree of one;
 * while the two on top hold the same number of leaves they merge (left +
 * right). At the end the stack holds subtrees of decreasing size, merged
 * from the top down: exactly the tree that coll.h's rank-to-rank sum
 * follows when ranks stand for subtrees.
 */
#include "runtime/dist/tree_sum.h"

#include <stdlib.h>
#include <string.h>

void tree_sum_init(TreeSum *t, size_t n) {
    memset(t, 0, sizeof *t);
    t->n = n;
}

void tree_sum_free(TreeSum *t) {
    for (int i = 0; i < TREE_SUM_MAX_DEPTH; i++) free(t->buf[i]);
    memset(t, 0, sizeof *t);
}

static void merge_top(TreeSum *t) {
    float *a = t->buf[t->depth - 2];
    const float *b = t->buf[t->depth - 1];
    for (size_t i = 0; i < t->n; i++) a[i] += b[i];
    t->leaves[t->depth - 2] += t->leaves[t->depth - 1];
    t->depth--;
}

bool tree_sum_add(TreeSum *t, const float *x) {
    int d = t->depth;
    if (d == TREE_SUM_MAX_DEPTH) return false; /* 2^32 leaves: not a batch */
    if (!t->buf[d] && !(t->buf[d] = malloc(t->n * sizeof(float) + 1))) return false;
    memcpy(t->buf[d], x, t->n * sizeof(float));
    t->leaves[d] = 1;
    t->depth++;
    while (t->depth >= 2 && t->leaves[t->depth - 1] == t->leaves[t->depth - 2]) merge_top(t);
    return true;
}

float *tree_sum_finish(TreeSum *t) {
    if (t->depth == 0) return NULL;
    while (t->depth >= 2) merge_top(t);
    t->depth = 0;
    return t->buf[0];
}

double tree_sum_f64(const double *x, int count) {
    double stack[TREE_SUM_MAX_DEPTH];
    long long leaves[TREE_SUM_MAX_DEPTH];
    int depth = 0;
    for (int i = 0; i < count; i++) {
        stack[depth] = x[i];
        leaves[depth++] = 1;
        while (depth >= 2 && leaves[depth - 1] == leaves[depth - 2]) {
            stack[depth - 2] += stack[depth - 1];
            leaves[depth - 2] += leaves[depth - 1];
            depth--;
        }
    }
    while (depth >= 2) {
        stack[depth - 2] += stack[depth - 1];
        depth--;
    }
    return depth ? stack[0] : 0;
}
