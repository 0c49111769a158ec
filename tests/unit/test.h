/*
 * test.h: the unit-test harness. Each test file defines TEST(name) functions;
 * tests/unit/main.c runs them all in file order and ends with the line
 * "N passed, N failed, N skipped". A test fails when any CHECK in it fails; it goes on
 * to its next CHECK so one run shows every broken assertion.
 */
#ifndef GPTC_TEST_H
#define GPTC_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*TestFn)(void);
void test_register(const char *name, TestFn fn);
/* A test whose dependency is missing here though a CPU machine can have it
 * (torch, the GPT-2 vocabulary, NVRTC): reported as "skipped: NAME: why"
 * when selected, never counted as passed; under CI (CI=true, as .ci/run
 * sets) a failure instead, since CI must check everything a CPU can. `why`
 * names what is missing and how to install it. */
void test_register_missing(const char *name, const char *why);
/* The running test skips (it returns right after), the same everywhere:
 * for a GPU test on a machine without one. */
void test_skip(const char *why);
void test_fail(const char *file, int line, const char *what);
void test_check_has(const char *file, int line, const char *hay, const char *needle);

/* A fresh directory /tmp/gptc-TAG-XXXXXX for one test (tmp_setup), paths
 * inside it (tmp_path: a few rotating buffers, so two can be live at once),
 * and its removal with everything in it (tmp_cleanup). */
void tmp_setup(const char *tag);
const char *tmp_path(const char *name);
const char *tmp_dir(void);
void tmp_cleanup(void);
void rm_rf(const char *path);

/* Runs a command function (cmd_data, cmd_export, ...) on argv with its
 * stdout and stderr captured, each into a NUL-terminated buffer; with
 * err == NULL both go to out, interleaved as written. Returns its status. */
int test_capture(int (*cmd)(int, char **), int argc, char **argv, char *out, size_t outcap,
                 char *err, size_t errcap);

/* The same with the arguments given inline, NULL-terminated; an argument
 * "@name" stands for tmp_path(name). */
int test_run(int (*cmd)(int, char **), char *out, size_t outcap, char *err, size_t errcap,
             const char *arg, ...);

#define TEST(name)                                                        \
    static void name(void);                                               \
    __attribute__((constructor)) static void name##_register(void) {      \
        test_register(#name, name);                                       \
    }                                                                     \
    static void name(void)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) test_fail(__FILE__, __LINE__, #cond);                \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                \
    do {                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);               \
        if (a_ != b_) {                                                   \
            char m_[256];                                                 \
            snprintf(m_, sizeof m_, "%s == %s (%lld != %lld)", #a, #b, a_, b_); \
            test_fail(__FILE__, __LINE__, m_);                            \
        }                                                                 \
    } while (0)

/* The text `hay` contains `needle`. */
#define CHECK_HAS(hay, needle) test_check_has(__FILE__, __LINE__, (hay), (needle))

#define CHECK_NEAR(a, b, tol)                                             \
    do {                                                                  \
        double a_ = (a), b_ = (b);                                        \
        if (!(fabs(a_ - b_) <= (tol))) {                                  \
            char m_[256];                                                 \
            snprintf(m_, sizeof m_, "%s ~ %s (%.9g vs %.9g)", #a, #b, a_, b_); \
            test_fail(__FILE__, __LINE__, m_);                            \
        }                                                                 \
    } while (0)

#endif
