/*
 * fuzz.h: what the libFuzzer targets of tests/fuzz/ share (run by
 * tests/run-fuzz.sh).
 *
 * The readers under test take paths, so each input goes into an in-memory
 * file (memfd_create) that the reader opens by name, /proc/self/fd/N:
 * nothing touches the disk, nothing is left behind when a run crashes, and
 * fuzzers running side by side never share a file.
 *
 * `TARGET --seeds=DIR` writes the target's seed corpus into DIR and exits
 * instead of fuzzing. The seeds are made at run time with the project's own
 * writers, so they follow the current file formats, and each is run through
 * the target first: a seed the reader refuses is an error, so that fuzzing
 * always starts from files that reach the deep checks.
 */
#ifndef GPTC_FUZZ_H
#define GPTC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    char path[32]; /* /proc/self/fd/N */
} FuzzFile;

/* The libFuzzer entry points each target defines. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An empty in-memory file. */
void fuzz_file_open(FuzzFile *f);

/* Replaces the file's contents with data[0..n). */
void fuzz_file_put(FuzzFile *f, const void *data, size_t n);

/* The DIR of a --seeds=DIR argument, created; NULL when there is none. */
const char *fuzz_seed_dir(int argc, char **argv);

/* DIR/NAME holds data[0..n). */
void fuzz_seed_file(const char *dir, const char *name, const void *data, size_t n);

/* Reports a broken promise of the code under test (or a seed the reader
 * refuses) and aborts, which libFuzzer records as a crash. */
_Noreturn void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
