/*
 * token_segments.h: the host side of the embedding tables' backward pass
 * (templates/embed.cu, embed_bwd): the positions of a step's tokens grouped
 * by token id, so that each table row's gradient is one segment's sum, added
 * by one thread in a fixed order (no atomics, deterministic).
 */
#ifndef GPTC_TOKEN_SEGMENTS_H
#define GPTC_TOKEN_SEGMENTS_H

/* A stable counting sort of the positions 0 .. T-1 by ids[t]:
 *   order[0 .. T-1]         the positions, by token id, ascending positions
 *                           within one id (the ref executor's order of
 *                           summation);
 *   seg_start[0 .. nseg]    segment s is order[seg_start[s] .. seg_start[s+1]-1]
 *                           (seg_start[0] = 0, seg_start[nseg] = T);
 *   seg_token[0 .. nseg-1]  the token id of segment s, ascending.
 * Returns nseg, the number of distinct ids (0 when T = 0); the caller sizes
 * order T, seg_start T + 1 and seg_token T. Returns -1 with a message on
 * stderr when an id is outside [0, vocab), or T < 0 or vocab < 1, or memory
 * runs out (the outputs are then unspecified). */
int token_segments(const int *ids, int T, int vocab, int *order, int *seg_start, int *seg_token);

#endif
