/* main.c: runs every registered unit test (or those whose name holds
 * argv[1]; or, with --shard I/N, every N-th from the I-th, so that N
 * processes side by side run them all) and prints the closing tally. A skipped test is counted apart,
 * never as passed, and is reported only when it was selected; under CI a
 * test whose dependency is missing fails instead (test_register_missing). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/test.h"

#define MAX_TESTS 1024

static struct {
    const char *name;
    TestFn fn;
    char why[1024]; /* test_register_missing's reason */
} tests[MAX_TESTS];
static int ntests, current_failed;
static char current_skip[1024];

static void add(const char *name, TestFn fn, const char *why) {
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests (max %d)\n", MAX_TESTS);
        exit(1);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    snprintf(tests[ntests].why, sizeof tests[ntests].why, "%s", why ? why : "");
    ntests++;
}

void test_register(const char *name, TestFn fn) { add(name, fn, NULL); }

void test_register_missing(const char *name, const char *why) { add(name, NULL, why); }

void test_skip(const char *why) { snprintf(current_skip, sizeof current_skip, "%s", why); }

void test_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, what);
    current_failed = 1;
}

int main(int argc, char **argv) {
    int shard = 0, shards = 1;
    const char *filter = argc > 1 ? argv[1] : NULL;
    if (argc > 2 && !strcmp(argv[1], "--shard")) {
        char end;
        if (sscanf(argv[2], "%d/%d%c", &shard, &shards, &end) != 2 || shards < 1 || shard < 0 || shard >= shards) {
            fprintf(stderr, "usage: %s [NAME_PART | --shard I/N]\n", argv[0]);
            return 2;
        }
        filter = NULL;
    }
    int passed = 0, failed = 0, skipped = 0;
    const char *ci = getenv("CI");
    bool under_ci = ci && !strcmp(ci, "true");
    /* GPTC_TEST_TIMES=1: each test's seconds, to keep make test's budget. */
    const char *times_env = getenv("GPTC_TEST_TIMES");
    bool times = times_env && !strcmp(times_env, "1");
    for (int i = 0; i < ntests; i++) {
        if ((filter && !strstr(tests[i].name, filter)) || i % shards != shard) continue;
        current_failed = 0;
        current_skip[0] = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (tests[i].fn) {
            tests[i].fn();
        } else if (under_ci) {
            fprintf(stderr, "  %s: missing under CI=true: %s\n", tests[i].name, tests[i].why);
            current_failed = 1;
        } else {
            snprintf(current_skip, sizeof current_skip, "%s", tests[i].why);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (times) printf("time %s %.1f s\n", tests[i].name, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
        if (current_failed) {
            fprintf(stderr, "FAIL %s\n", tests[i].name);
            failed++;
        } else if (current_skip[0]) {
            printf("skipped: %s: %s\n", tests[i].name, current_skip);
            skipped++;
        } else {
            passed++;
        }
    }
    printf("unit: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
