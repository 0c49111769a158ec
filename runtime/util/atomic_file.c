/*
 * atomic_file.c: write-to-temporary, fsync, rename, fsync-directory (see
 * atomic_file.h).
 *
 * fsync before rename matters: without it a crash can leave a renamed file
 * whose blocks were never written (zero-filled on ext4 and xfs), i.e. a
 * checkpoint that exists but is garbage.
 */
#include "runtime/util/errmsg.h"
#include "runtime/util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(AtomicFile *a) {
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    a->f = NULL;
}

bool atomic_open(AtomicFile *a, const char *path, char *err, size_t errcap) {
    size_t n = strlen(path);
    a->f = NULL;
    a->path = malloc(n + 1);
    a->tmp = malloc(n + 5);
    if (!a->path || !a->tmp) {
        release(a);
        path_error(err, errcap, path, "out of memory");
        return false;
    }
    memcpy(a->path, path, n + 1);
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, ".tmp", 5);
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        path_error(err, errcap, path, "cannot create %s: %s", a->tmp, strerror(errno));
        release(a);
        return false;
    }
    return true;
}

void atomic_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) remove(a->tmp);
    release(a);
}

/* Makes the rename durable. Some file systems cannot fsync a directory and
 * say EINVAL; there is nothing more to do on those. */
static bool sync_dir(const char *path, char *err, size_t errcap) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return path_error(err, errcap, path, "out of memory"), false;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    bool ok = fd >= 0 && (fsync(fd) == 0 || errno == EINVAL);
    if (!ok)
        path_error(err, errcap, path, "written, but cannot sync directory %s: %s", dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return ok;
}

/* The first step that failed, with its errno, or NULL. */
static const char *finish(AtomicFile *a, int *e) {
    const char *step = NULL;
    if (fflush(a->f) != 0 || ferror(a->f)) step = "write";
    else if (fsync(fileno(a->f)) != 0) step = "sync";
    if (step) *e = errno;
    /* fclose can report a deferred write error (NFS), so it is checked
     * too; the stream is gone afterwards whatever it returns. */
    int rc = fclose(a->f);
    a->f = NULL;
    if (!step && rc != 0) step = "close", *e = errno;
    if (!step && rename(a->tmp, a->path) != 0) step = "rename", *e = errno;
    return step;
}

bool atomic_commit(AtomicFile *a, char *err, size_t errcap) {
    int e = 0;
    const char *step = finish(a, &e);
    if (step) {
        path_error(err, errcap, a->path, "cannot %s %s: %s", step, a->tmp, strerror(e));
        atomic_abort(a);
        return false;
    }
    bool ok = sync_dir(a->path, err, errcap);
    release(a);
    return ok;
}
