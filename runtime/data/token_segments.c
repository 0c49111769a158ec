/*
 * token_segments.c: a stable counting sort of token positions by id (see
 * token_segments.h).
 */
#include "runtime/data/token_segments.h"

#include <stdio.h>
#include <stdlib.h>

int token_segments(const int *ids, int T, int vocab, int *order, int *seg_start, int *seg_token) {
    if (T < 0 || vocab < 1) {
        fprintf(stderr, "gptc: token_segments: bad sizes (T %d, vocab %d)\n", T, vocab);
        return -1;
    }
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= vocab) {
            fprintf(stderr, "gptc: token id %d at position %d is outside the vocabulary [0, %d)\n", ids[t], t,
                    vocab);
            return -1;
        }
    /* next[v]: first the count of id v, then where its next position goes. */
    int *next = calloc((size_t)vocab, sizeof *next);
    if (!next) {
        fprintf(stderr, "gptc: token_segments: out of memory (vocab %d)\n", vocab);
        return -1;
    }
    for (int t = 0; t < T; t++) next[ids[t]]++;
    int nseg = 0, at = 0;
    for (int v = 0; v < vocab; v++) {
        int count = next[v];
        if (!count) continue;
        seg_start[nseg] = at;
        seg_token[nseg++] = v;
        next[v] = at;
        at += count;
    }
    seg_start[nseg] = T;
    for (int t = 0; t < T; t++) order[next[ids[t]]++] = t;
    free(next);
    return nseg;
}
