/*
 * testutil.c: helpers shared by the unit tests (declared in test.h):
 * substring checks with a readable failure, and per-test temporary
 * directories that are removed with everything in them.
 */
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test.h"

static char tdir[64];

void test_check_has(const char *file, int line, const char *hay, const char *needle) {
    if (hay && strstr(hay, needle)) return;
    char m[2400];
    snprintf(m, sizeof m, "expected \"%.300s\" in: %.2000s", needle, hay ? hay : "(null)");
    test_fail(file, line, m);
}

void tmp_setup(const char *tag) {
    snprintf(tdir, sizeof tdir, "/tmp/gptc-%s-XXXXXX", tag);
    if (!mkdtemp(tdir)) test_fail(__FILE__, __LINE__, "mkdtemp failed");
}

const char *tmp_path(const char *name) {
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    if (snprintf(buf[k], sizeof buf[k], "%s/%s", tdir, name) >= (int)sizeof buf[k])
        test_fail(__FILE__, __LINE__, "tmp_path: the path is too long");
    return buf[k];
}

/* Directories are made writable first: some tests take permissions away. */
void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0700);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    if (d) closedir(d);
    rmdir(path);
}

const char *tmp_dir(void) { return tdir; }

void tmp_cleanup(void) { rm_rf(tdir); }

static void read_back(FILE *f, char *buf, size_t cap) {
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

int test_capture(int (*cmd)(int, char **), int argc, char **argv, char *out, size_t outcap,
                 char *err, size_t errcap) {
    FILE *fo = tmpfile(), *fe = err ? tmpfile() : NULL;
    if (!fo || (err && !fe)) {
        test_fail(__FILE__, __LINE__, "tmpfile failed");
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe ? fe : fo), 2);
    int rc = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    read_back(fo, out, outcap);
    if (fe) read_back(fe, err, errcap);
    fclose(fo);
    if (fe) fclose(fe);
    return rc;
}

int test_run(int (*cmd)(int, char **), char *out, size_t outcap, char *err, size_t errcap,
             const char *arg, ...) {
    static char store[32][PATH_MAX];
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 32; a = va_arg(ap, const char *)) {
        snprintf(store[argc], PATH_MAX, "%s", a[0] == '@' ? tmp_path(a + 1) : a);
        argv[argc] = store[argc];
        argc++;
    }
    va_end(ap);
    return test_capture(cmd, argc, argv, out, outcap, err, errcap);
}
