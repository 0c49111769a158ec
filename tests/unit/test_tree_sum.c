/*
 * test_tree_sum.c: the fixed summation order that makes multi-rank runs
 * reproduce one process's numbers (runtime/dist/tree_sum.h). The leaves are
 * chosen so that every association gives a different fp32 result, and
 * each sum is checked against its tree written out by hand.
 */
#include "tests/unit/test.h"
#include "runtime/dist/tree_sum.h"

/* Values of very different sizes: (a + b) + c != a + (b + c) for them. */
static const float leaf[7] = {1.0f, 3e-8f, 7e-8f, -1.0f, 5e-8f, 0.5f, 9e-8f};

static float sum_of(int count) {
    TreeSum t;
    tree_sum_init(&t, 1);
    for (int i = 0; i < count; i++) CHECK(tree_sum_add(&t, &leaf[i]));
    float r = *tree_sum_finish(&t);
    tree_sum_free(&t);
    return r;
}

TEST(tree_sum_follows_the_aligned_pairwise_tree) {
    const float *x = leaf;
    volatile float p01 = x[0] + x[1], p23 = x[2] + x[3], p45 = x[4] + x[5];
    volatile float p0123 = p01 + p23, p456 = p45 + x[6];
    CHECK(sum_of(1) == x[0]);
    CHECK(sum_of(4) == p0123);
    CHECK(sum_of(6) == p0123 + p45);
    CHECK(sum_of(7) == p0123 + p456);
    /* and not the sequential order, which differs here */
    volatile float seq = x[0];
    for (int i = 1; i < 7; i++) seq += x[i];
    CHECK(sum_of(7) != seq);
}

TEST(tree_sum_f64_matches_the_float_tree_order) {
    double d[7];
    for (int i = 0; i < 7; i++) d[i] = leaf[i] * 1e-9;
    volatile double p0123 = (d[0] + d[1]) + (d[2] + d[3]);
    volatile double p456 = (d[4] + d[5]) + d[6];
    CHECK(tree_sum_f64(d, 7) == p0123 + p456);
    CHECK(tree_sum_f64(d, 0) == 0);
}

/* A split into subtrees (as ranks holding 2 leaves each would sum them, then
 * add the partials over the same tree) gives the whole tree bit for bit. */
TEST(tree_sum_of_partials_equals_the_whole) {
    float part[3];
    for (int r = 0; r < 3; r++) {
        TreeSum t;
        tree_sum_init(&t, 1);
        CHECK(tree_sum_add(&t, &leaf[2 * r]));
        CHECK(tree_sum_add(&t, &leaf[2 * r + 1]));
        part[r] = *tree_sum_finish(&t);
        tree_sum_free(&t);
    }
    TreeSum t;
    tree_sum_init(&t, 1);
    for (int r = 0; r < 3; r++) CHECK(tree_sum_add(&t, &part[r]));
    CHECK(*tree_sum_finish(&t) == sum_of(6));
    CHECK(tree_sum_finish(&t) == NULL);
    tree_sum_free(&t);
}
