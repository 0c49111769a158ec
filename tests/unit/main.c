/* main.c: runs every registered unit test and prints the closing tally. */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

#define MAX_TESTS 1024

static struct { const char *name; TestFn fn; } tests[MAX_TESTS];
static int ntests, current_failed;

void test_register(const char *name, TestFn fn) {
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests (max %d)\n", MAX_TESTS);
        exit(1);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void test_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, what);
    current_failed = 1;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        current_failed = 0;
        tests[i].fn();
        if (current_failed) {
            fprintf(stderr, "FAIL %s\n", tests[i].name);
            failed++;
        } else {
            passed++;
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
