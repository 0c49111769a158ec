/*
 * test_token_segments.c: the stable counting sort behind the embedding
 * tables' backward pass (runtime/data/token_segments.h), on hand-checked inputs,
 * on random ones against its definition, and on bad ids.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "runtime/util/rng.h"
#include "tests/unit/test.h"
#include "runtime/data/token_segments.h"

TEST(token_segments_small) {
    const int ids[] = {5, 2, 5, 0, 2, 5, 7};
    int order[7], start[8], tok[7];
    int n = token_segments(ids, 7, 8, order, start, tok);
    CHECK_EQ_INT(n, 4);
    const int want_order[] = {3, 1, 4, 0, 2, 5, 6}, want_start[] = {0, 1, 3, 6, 7}, want_tok[] = {0, 2, 5, 7};
    for (int i = 0; i < 7; i++) CHECK_EQ_INT(order[i], want_order[i]);
    for (int s = 0; s <= 4; s++) CHECK_EQ_INT(start[s], want_start[s]);
    for (int s = 0; s < 4; s++) CHECK_EQ_INT(tok[s], want_tok[s]);
}

TEST(token_segments_edges) {
    int order[3] = {-1, -1, -1}, start[4], tok[3];
    CHECK_EQ_INT(token_segments(NULL, 0, 10, order, start, tok), 0);
    CHECK_EQ_INT(start[0], 0);
    const int same[] = {9, 9, 9};
    CHECK_EQ_INT(token_segments(same, 3, 10, order, start, tok), 1);
    CHECK_EQ_INT(tok[0], 9);
    CHECK_EQ_INT(start[1], 3);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(order[i], i);
}

/* Random ids with many repeats: every position once, segments in ascending
 * id, positions ascending within a segment, each with its own id. */
TEST(token_segments_random) {
    Rng r;
    rng_seed(&r, 7);
    enum { T = 4099, V = 300 };
    int *ids = malloc(sizeof(int) * T), *order = malloc(sizeof(int) * T);
    int *start = malloc(sizeof(int) * (T + 1)), *tok = malloc(sizeof(int) * T), *seen = calloc(T, sizeof(int));
    for (int t = 0; t < T; t++) ids[t] = (int)(rng_uniform(&r) * rng_uniform(&r) * V);
    int n = token_segments(ids, T, V, order, start, tok);
    CHECK(n > 1 && n <= V);
    CHECK_EQ_INT(start[0], 0);
    CHECK_EQ_INT(start[n], T);
    bool ok = true;
    for (int s = 0; s < n; s++) {
        ok = ok && start[s] < start[s + 1] && (s == 0 || tok[s - 1] < tok[s]);
        for (int i = start[s]; i < start[s + 1]; i++) {
            ok = ok && ids[order[i]] == tok[s] && (i == start[s] || order[i - 1] < order[i]);
            seen[order[i]]++;
        }
    }
    for (int t = 0; t < T; t++) ok = ok && seen[t] == 1;
    CHECK(ok);
    free(ids), free(order), free(start), free(tok), free(seen);
}

/* The three bad calls of the test below, as a command for test_capture:
 * returns how many of them gave -1. */
static int bad_calls(int argc, char **argv) {
    (void)argc, (void)argv;
    const int neg[] = {1, -1}, big[] = {0, 1, 10};
    int order[3], start[4], tok[3];
    return (token_segments(neg, 2, 10, order, start, tok) == -1) + (token_segments(big, 3, 10, order, start, tok) == -1) +
           (token_segments(big, 3, 0, order, start, tok) == -1);
}

TEST(token_segments_bad_ids) {
    char out[256], err[1024];
    CHECK_EQ_INT(test_capture(bad_calls, 0, NULL, out, sizeof out, err, sizeof err), 3);
    CHECK_HAS(err, "token id -1 at position 1 is outside the vocabulary [0, 10)");
    CHECK_HAS(err, "token id 10 at position 2 is outside the vocabulary [0, 10)");
    CHECK_HAS(err, "bad sizes (T 3, vocab 0)");
}
