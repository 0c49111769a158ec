/*
 * fuzz.c: the in-memory input file, the seed directory and the failure
 * report that every fuzz target uses (see fuzz.h).
 */
#define _GNU_SOURCE /* memfd_create */
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compiler/util/fsutil.h"

void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void fuzz_file_open(FuzzFile *f) {
    f->fd = memfd_create("gptc-fuzz", MFD_CLOEXEC);
    if (f->fd < 0) fuzz_fail("memfd_create: %s", strerror(errno));
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

void fuzz_file_put(FuzzFile *f, const void *data, size_t n) {
    if (ftruncate(f->fd, 0) != 0) fuzz_fail("%s: cannot truncate: %s", f->path, strerror(errno));
    const char *p = data;
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(f->fd, p + done, n - done, (off_t)done);
        if (k <= 0) fuzz_fail("%s: cannot write: %s", f->path, strerror(errno));
        done += (size_t)k;
    }
}

const char *fuzz_seed_dir(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--seeds=", 8)) continue;
        char err[512];
        if (!fs_mkdir_p(argv[i] + 8, err, sizeof err)) fuzz_fail("%s", err);
        return argv[i] + 8;
    }
    return NULL;
}

void fuzz_seed_file(const char *dir, const char *name, const void *data, size_t n) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!fs_write_atomic(path, &data, &n, 1, err, sizeof err)) fuzz_fail("%s", err);
}
