/*
 * fsutil.c: directories, whole-file reads and atomic writes (see fsutil.h).
 */
#include "compiler/util/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool fs_mkdir_p(const char *path, char *err, size_t errlen) {
    char buf[4096];
    if (!*path) {
        snprintf(err, errlen, "empty directory name");
        return false;
    }
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        return false;
    }
    /* Each prefix ending before a '/', then the whole path. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
            return false;
        }
        *p = saved;
        if (!saved) break;
    }
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", buf);
        return false;
    }
    return true;
}

char *fs_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 65536;
            char *bigger = realloc(buf, cap);
            if (!bigger) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = bigger;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool write_all(int fd, const void *const *pieces, const size_t *lens, int n) {
    for (int i = 0; i < n; i++) {
        const char *p = pieces[i];
        for (size_t left = lens[i]; left > 0;) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            p += w, left -= (size_t)w;
        }
    }
    return true;
}

bool fs_write_atomic(const char *path, const void *const *pieces, const size_t *lens, int n, char *err,
                     size_t errlen) {
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    if (snprintf(tmp, sizeof tmp, "%.*s.gptc-tmp-XXXXXX", dirlen, path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        return false;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        return false;
    }
    /* mkstemp makes the file 0600; give it the usual 0644 (umask cannot be
     * read without setting it, which would race with other threads). */
    bool ok = fchmod(fd, 0644) == 0 && write_all(fd, pieces, lens, n);
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (ok) return true;
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return false;
}

void fs_stem_path(const char *prefix, const char *file, char *out, size_t cap) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".yaml")) n -= 5;
    else if (n > 4 && !strcmp(base + n - 4, ".yml")) n -= 4;
    snprintf(out, cap, "%s/%.*s", prefix, (int)n, base);
}

bool fs_beside(const char *file, const char *rel, char *out, size_t cap) {
    const char *slash = strrchr(file, '/');
    int n;
    if (rel[0] == '/' || !slash) n = snprintf(out, cap, "%s", rel);
    else n = snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, rel);
    return n > 0 && (size_t)n < cap;
}

void fs_tidy(char *path) {
    char copy[4096], *seg[512], *save = NULL;
    int n = 0;
    bool absolute = path[0] == '/';
    snprintf(copy, sizeof copy, "%s", path);
    for (char *t = strtok_r(copy, "/", &save); t && n < 512; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, ".")) continue;
        if (!strcmp(t, "..") && n > 0 && strcmp(seg[n - 1], "..")) n--;
        else seg[n++] = t;
    }
    char out[4096];
    size_t len = (size_t)snprintf(out, sizeof out, "%s", absolute ? "/" : "");
    for (int i = 0; i < n && len < sizeof out; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? "/" : "", seg[i]);
    snprintf(path, strlen(path) + 1, "%s", n || absolute ? out : ".");
}

bool fs_self_exe(char *out, size_t cap) {
    ssize_t len = cap > 1 ? readlink("/proc/self/exe", out, cap - 1) : -1;
    if (len <= 0) return false;
    out[len] = '\0';
    return true;
}
