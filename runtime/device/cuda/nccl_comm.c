/*
 * cuda/nccl_comm.c: NCCL through dlopen, and the DevComm on it (see
 * nccl_comm.h for what and why). <nccl.h> is the toolkit's, for the types.
 */
#include "runtime/device/cuda/nccl_comm.h"

#include <nccl.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/device/cuda/cuda_drv.h"
#include "runtime/device/cuda/gpu_cuda.h"

/* src into dst[cap], cut to fit. */
static void copy_text(char *dst, size_t cap, const char *src) {
    size_t len = strlen(src);
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ---- the library ---- */

static struct {
    int version;
    char path[600];
    char msg[1024]; /* "NCCL 2.28.9 (path)", or why it did not load */
    ncclResult_t (*GetVersion)(int *);
    const char *(*GetErrorString)(ncclResult_t);
    const char *(*GetLastError)(ncclComm_t);
    ncclResult_t (*GetUniqueId)(ncclUniqueId *);
    ncclResult_t (*CommInitRankConfig)(ncclComm_t *, int, ncclUniqueId, int, ncclConfig_t *);
    ncclResult_t (*CommGetAsyncError)(ncclComm_t, ncclResult_t *);
    ncclResult_t (*CommCuDevice)(const ncclComm_t, int *);
    ncclResult_t (*CommFinalize)(ncclComm_t);
    ncclResult_t (*CommDestroy)(ncclComm_t);
    ncclResult_t (*CommAbort)(ncclComm_t);
    ncclResult_t (*RedOpCreatePreMulSum)(ncclRedOp_t *, void *, ncclDataType_t, ncclScalarResidence_t, ncclComm_t);
    ncclResult_t (*RedOpDestroy)(ncclRedOp_t, ncclComm_t);
    ncclResult_t (*AllReduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*Broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
} lib;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

#define LIBNAME "libnccl.so.2"
/* Non-blocking communicators and ncclCommFinalize came with 2.14. */
#define MIN_VERSION 21400

/* The first of the candidate paths that opens; else NULL with the
 * loader's reason for each in tried. */
static void *open_lib(char *tried, size_t cap) {
    const char *only = getenv("GPTC_NCCL_LIB");
    const char *home = getenv("CUDA_HOME");
    char in_home[700];
    snprintf(in_home, sizeof in_home, "%.600s/lib64/" LIBNAME, home && *home ? home : "/usr/local/cuda");
    const char *paths[2] = {LIBNAME, in_home};
    int n = 2;
    if (only && *only) paths[0] = only, n = 1;
    size_t used = 0;
    tried[0] = '\0';
    for (int i = 0; i < n; i++) {
        void *h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            snprintf(lib.path, sizeof lib.path, "%s", paths[i]);
            return h;
        }
        const char *e = dlerror();
        /* dlerror's text starts with the path. */
        int w = snprintf(tried + used, cap - used, "%s%.340s", i ? "; " : "", e ? e : paths[i]);
        if (w > 0) used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
    }
    return NULL;
}

static bool resolve_all(void *h) {
    static const char *names[] = {"ncclGetVersion",      "ncclGetErrorString",       "ncclGetLastError",
                                  "ncclGetUniqueId",     "ncclCommInitRankConfig",   "ncclCommGetAsyncError",
                                  "ncclCommCuDevice",    "ncclCommFinalize",         "ncclCommDestroy",
                                  "ncclCommAbort",       "ncclRedOpCreatePreMulSum", "ncclRedOpDestroy",
                                  "ncclAllReduce",       "ncclBroadcast"};
    void *slots[] = {&lib.GetVersion,   &lib.GetErrorString,       &lib.GetLastError,
                     &lib.GetUniqueId,  &lib.CommInitRankConfig,   &lib.CommGetAsyncError,
                     &lib.CommCuDevice, &lib.CommFinalize,         &lib.CommDestroy,
                     &lib.CommAbort,    &lib.RedOpCreatePreMulSum, &lib.RedOpDestroy,
                     &lib.AllReduce,    &lib.Broadcast};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *p = dlsym(h, names[i]);
        if (!p) {
            snprintf(lib.msg, sizeof lib.msg, "NCCL: %s has no %s (not NCCL, or an NCCL older than 2.14)", lib.path,
                     names[i]);
            return false;
        }
        memcpy(slots[i], &p, sizeof p); /* object pointer to function pointer, as POSIX allows */
    }
    return true;
}

/* 22809 -> "2.28.9"; codes before 2.9 were X*1000 + Y*100 + Z. */
static void version_text(int v, char *out, size_t cap) {
    if (v >= 20900) snprintf(out, cap, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    else snprintf(out, cap, "%d.%d.%d", v / 1000, v / 100 % 10, v % 100);
}

static void load(void) {
    char tried[800];
    void *h = open_lib(tried, sizeof tried);
    if (!h) {
        const char *only = getenv("GPTC_NCCL_LIB");
        snprintf(lib.msg, sizeof lib.msg, "NCCL: %s not found (%s)%s", only && *only ? only : LIBNAME, tried,
                 only && *only ? " (from GPTC_NCCL_LIB)" : "; set GPTC_NCCL_LIB to its path");
        return;
    }
    if (!resolve_all(h)) return;
    int v = 0;
    char text[32];
    if (lib.GetVersion(&v) != ncclSuccess) {
        snprintf(lib.msg, sizeof lib.msg, "NCCL: ncclGetVersion failed in %s", lib.path);
        return;
    }
    version_text(v, text, sizeof text);
    if (v < MIN_VERSION) {
        snprintf(lib.msg, sizeof lib.msg, "NCCL: %s is NCCL %s; 2.14 or later is needed", lib.path, text);
        return;
    }
    snprintf(lib.msg, sizeof lib.msg, "NCCL %s (%s)", text, lib.path);
    lib.version = v;
}

int nccl_available(char *msg, size_t cap) {
    pthread_once(&lib_once, load);
    if (msg && cap) copy_text(msg, cap, lib.msg);
    return lib.version;
}

/* ---- the communicator ---- */

#define MAX_OPS 8 /* distinct scales kept as premultiplied-sum operators */

typedef struct {
    const CudaDrv *d;
    Gpu *g;
    CUcontext ctx;
    CUstream gpu_stream, stream; /* the Gpu's, and NCCL's own */
    CUevent queued;              /* on the Gpu's stream: what a collective waits for */
    CUevent done;                /* on NCCL's stream: what wait() waits for */
    ncclComm_t comm;             /* NULL once aborted or destroyed */
    bool failed;
    double timeout_s;
    struct {
        float scale;
        ncclRedOp_t op;
    } ops[MAX_OPS];
    int nops, next_evict;
} Nccl;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Sleeps *us microseconds and doubles it up to 1 ms: a short wait is
 * noticed within microseconds, a long one costs little CPU. */
static void backoff(long *us) {
    struct timespec t = {0, *us * 1000};
    nanosleep(&t, NULL);
    if (*us < 1000) *us *= 2;
}

/* The communicator is unusable from here on: its resources go now (also
 * NCCL's kernels still on the GPU); close has nothing left to finalize. */
static void abort_comm(Nccl *n) {
    n->failed = true;
    if (n->comm) lib.CommAbort(n->comm);
    n->comm = NULL;
    n->nops = 0;
}

/* "NCCL: rank R of N: what: detail" into c->err, then the abort; -1. */
static int fail(DevComm *c, const char *what, const char *detail) {
    snprintf(c->err, sizeof c->err, "NCCL: rank %d of %d: %s: %s", c->rank, c->size, what, detail);
    abort_comm(c->impl);
    return -1;
}

static int fail_nccl(DevComm *c, const char *what, ncclResult_t r) {
    Nccl *n = c->impl;
    char detail[400];
    const char *last = n->comm ? lib.GetLastError(n->comm) : NULL;
    snprintf(detail, sizeof detail, "%s%s%.300s%s", lib.GetErrorString(r), last && *last ? " (" : "",
             last && *last ? last : "", last && *last ? ")" : "");
    return fail(c, what, detail);
}

static int fail_cu(DevComm *c, const char *what, CUresult r) {
    return fail(c, what, cuda_result_name(((Nccl *)c->impl)->d, r));
}

static int fail_deadline(DevComm *c, const char *what) {
    char detail[64];
    snprintf(detail, sizeof detail, "not done within %g s", ((Nccl *)c->impl)->timeout_s);
    return fail(c, what, detail);
}

/* After an NCCL call on the non-blocking communicator returned r: its
 * background part finished (ncclCommGetAsyncError no longer says
 * ncclInProgress) without error, within the deadline. */
static int settle(DevComm *c, ncclResult_t r, const char *what) {
    Nccl *n = c->impl;
    double deadline = now_s() + n->timeout_s;
    long us = 2;
    while (r == ncclInProgress) {
        if (now_s() > deadline) return fail_deadline(c, what);
        backoff(&us);
        ncclResult_t q = lib.CommGetAsyncError(n->comm, &r);
        if (q != ncclSuccess) r = q;
    }
    return r == ncclSuccess ? 0 : fail_nccl(c, what, r);
}

/* Refuses a call on a failed communicator or with another Gpu. */
static int usable(DevComm *c, Gpu *g) {
    Nccl *n = c->impl;
    if (n->failed) return -1; /* c->err still holds the first failure */
    if (g != n->g) {
        snprintf(c->err, sizeof c->err, "NCCL: rank %d of %d: called with a Gpu other than its own", c->rank,
                 c->size);
        return -1;
    }
    return 0;
}

/* NCCL's stream waits for the work already queued on the Gpu's. */
static int after_gpu_work(DevComm *c) {
    Nccl *n = c->impl;
    CUresult r = n->d->EventRecord(n->queued, n->gpu_stream);
    if (r != CUDA_SUCCESS) return fail_cu(c, "cuEventRecord (on the Gpu's stream)", r);
    r = n->d->StreamWaitEvent(n->stream, n->queued, 0);
    return r == CUDA_SUCCESS ? 0 : fail_cu(c, "cuStreamWaitEvent (NCCL's stream after the Gpu's)", r);
}

/* The reduction for `scale`: ncclSum for 1, else a premultiplied sum made
 * once per distinct scale (the oldest of MAX_OPS replaced; safe, since an
 * operator may go once the calls given it have returned). Premultiplied
 * sums rather than ncclAvg: they take any scale, not only 1/size. The
 * result is the sum of scale * x over the ranks, which is scale times the
 * sum exactly when scale is a power of two. */
static int reduction(DevComm *c, float scale, ncclRedOp_t *op) {
    Nccl *n = c->impl;
    if (scale == 1.0f) {
        *op = ncclSum;
        return 0;
    }
    for (int i = 0; i < n->nops; i++)
        if (n->ops[i].scale == scale) {
            *op = n->ops[i].op;
            return 0;
        }
    int slot = n->nops;
    if (slot < MAX_OPS) {
        n->nops++;
    } else {
        slot = n->next_evict;
        n->next_evict = (slot + 1) % MAX_OPS;
        lib.RedOpDestroy(n->ops[slot].op, n->comm);
    }
    float s = scale;
    ncclResult_t r = lib.RedOpCreatePreMulSum(op, &s, ncclFloat32, ncclScalarHostImmediate, n->comm);
    if (settle(c, r, "ncclRedOpCreatePreMulSum") != 0) return -1;
    n->ops[slot].scale = scale;
    n->ops[slot].op = *op;
    return 0;
}

static int nccl_sum_f32(DevComm *c, Gpu *g, float *buf, size_t count, float scale) {
    if (usable(c, g) != 0) return -1;
    if (count == 0) return 0;
    Nccl *n = c->impl;
    ncclRedOp_t op;
    if (reduction(c, scale, &op) != 0 || after_gpu_work(c) != 0) return -1;
    ncclResult_t r = lib.AllReduce(buf, buf, count, ncclFloat32, op, n->comm, n->stream);
    return settle(c, r, "ncclAllReduce");
}

static int nccl_bcast(DevComm *c, Gpu *g, void *buf, size_t bytes, int root) {
    if (usable(c, g) != 0) return -1;
    if (root < 0 || root >= c->size) {
        snprintf(c->err, sizeof c->err, "NCCL: rank %d of %d: broadcast from rank %d", c->rank, c->size, root);
        return -1;
    }
    if (bytes == 0) return 0;
    Nccl *n = c->impl;
    if (after_gpu_work(c) != 0) return -1;
    ncclResult_t r = lib.Broadcast(buf, buf, bytes, ncclUint8, root, n->comm, n->stream);
    return settle(c, r, "ncclBroadcast");
}

/* Blocks until NCCL's stream has run everything queued on it, polling the
 * event and the communicator's errors against the deadline (a peer that
 * died or hangs ends the wait there), then orders the Gpu's stream after. */
static int nccl_wait(DevComm *c, Gpu *g) {
    if (usable(c, g) != 0) return -1;
    Nccl *n = c->impl;
    CUresult r = n->d->EventRecord(n->done, n->stream);
    if (r != CUDA_SUCCESS) return fail_cu(c, "cuEventRecord (on NCCL's stream)", r);
    double deadline = now_s() + n->timeout_s;
    long us = 2;
    while ((r = n->d->EventQuery(n->done)) == CUDA_ERROR_NOT_READY) {
        ncclResult_t async = ncclSuccess, q = lib.CommGetAsyncError(n->comm, &async);
        if (q != ncclSuccess) async = q;
        if (async != ncclSuccess && async != ncclInProgress)
            return fail_nccl(c, "waiting for the collectives", async);
        if (now_s() > deadline) return fail_deadline(c, "waiting for the collectives");
        backoff(&us);
    }
    if (r != CUDA_SUCCESS) return fail_cu(c, "cuEventQuery (waiting for the collectives)", r);
    r = n->d->StreamWaitEvent(n->gpu_stream, n->done, 0);
    return r == CUDA_SUCCESS ? 0 : fail_cu(c, "cuStreamWaitEvent (the Gpu's stream after NCCL's)", r);
}

/* Finalize (flushes the communicator, bounded by the deadline) then
 * destroy; abort when that fails or after any failure. */
static void nccl_close(DevComm *c) {
    if (!c) return;
    Nccl *n = c->impl;
    if (n->comm) {
        for (int i = 0; i < n->nops; i++) lib.RedOpDestroy(n->ops[i].op, n->comm);
        n->nops = 0;
        if (settle(c, lib.CommFinalize(n->comm), "ncclCommFinalize") == 0) {
            lib.CommDestroy(n->comm);
            n->comm = NULL;
        }
    }
    if (n->stream) n->d->StreamDestroy(n->stream);
    if (n->queued) n->d->EventDestroy(n->queued);
    if (n->done) n->d->EventDestroy(n->done);
    free(n);
    free(c);
}

/* ---- setup ---- */

/* What rank 0 sends every rank: the id, or why it has none. */
typedef struct {
    int32_t ok;
    char why[480];
    ncclUniqueId id;
} IdMsg;

/* This rank's part before any communication: NCCL loaded, g a cuda Gpu,
 * the driver. */
static bool local_ready(Nccl *n, Gpu *g, char *why, size_t cap) {
    if (!nccl_available(why, cap)) return false;
    if (gpu_cuda_handles(g, &n->ctx, &n->gpu_stream) != 0) {
        snprintf(why, cap, "NCCL needs a cuda Gpu, not %s", g && g->name ? g->name : "none");
        return false;
    }
    char drv_why[700];
    if (!(n->d = cuda_drv(drv_why, sizeof drv_why))) {
        copy_text(why, cap, drv_why);
        return false;
    }
    return true;
}

/* Every rank learns whether all are ready (and rank 0's id); false with
 * the reason in why, the same decision on every rank. */
static bool agree(Coll *coll, bool ready, const char *mine, IdMsg *msg, char *why, size_t cap) {
    int rank = coll_rank(coll), size = coll_size(coll);
    memset(msg, 0, sizeof *msg);
    if (rank == 0) {
        msg->ok = ready;
        copy_text(msg->why, sizeof msg->why, ready ? "" : mine);
        if (ready) {
            ncclResult_t r = lib.GetUniqueId(&msg->id);
            if (r != ncclSuccess) {
                msg->ok = 0;
                snprintf(msg->why, sizeof msg->why, "ncclGetUniqueId: %s", lib.GetErrorString(r));
            }
        }
    }
    coll_bcast(coll, msg, sizeof *msg, 0, "the NCCL id");
    double count = ready ? 1 : 0;
    coll_sum_f64(coll, &count, 1, "whether every rank could start NCCL");
    if (!ready) copy_text(why, cap, mine);
    else if (!msg->ok) snprintf(why, cap, "rank 0: %s", msg->why);
    else if ((int)count != size)
        snprintf(why, cap, "%d of %d ranks could not start NCCL (each says why)", size - (int)count, size);
    else return true;
    return false;
}

static int make_stream(DevComm *c) {
    Nccl *n = c->impl;
    CUresult r = n->d->CtxSetCurrent(n->ctx);
    if (r != CUDA_SUCCESS) return fail_cu(c, "cuCtxSetCurrent", r);
    if ((r = n->d->StreamCreate(&n->stream, CU_STREAM_NON_BLOCKING)) != CUDA_SUCCESS)
        return fail_cu(c, "cuStreamCreate (NCCL's stream)", r);
    if ((r = n->d->EventCreate(&n->queued, CU_EVENT_DISABLE_TIMING)) != CUDA_SUCCESS ||
        (r = n->d->EventCreate(&n->done, CU_EVENT_DISABLE_TIMING)) != CUDA_SUCCESS)
        return fail_cu(c, "cuEventCreate", r);
    return 0;
}

static int init_comm(DevComm *c, const ncclUniqueId *id, int device) {
    Nccl *n = c->impl;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = lib.CommInitRankConfig(&n->comm, c->size, *id, c->rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
        if (!n->comm) return fail(c, "ncclCommInitRankConfig", lib.GetErrorString(r));
        return fail_nccl(c, "ncclCommInitRankConfig", r);
    }
    if (settle(c, r, "setting up the communicator (ncclCommInitRankConfig)") != 0) return -1;
    int seen = -1;
    if ((r = lib.CommCuDevice(n->comm, &seen)) != ncclSuccess) return fail_nccl(c, "ncclCommCuDevice", r);
    if (seen != device) {
        char detail[120];
        snprintf(detail, sizeof detail, "NCCL runs on device %d, the Gpu is device %d", seen, device);
        return fail(c, "ncclCommCuDevice", detail);
    }
    return 0;
}

DevComm *devcomm_nccl(Gpu *g, Coll *coll, int device, double timeout_s, char *err, size_t errcap) {
    DevComm *c = calloc(1, sizeof *c);
    Nccl *n = calloc(1, sizeof *n);
    char mine[600], why[700];
    bool ready = c && n && local_ready(n, g, mine, sizeof mine);
    if (!c || !n) snprintf(mine, sizeof mine, "out of host memory");
    IdMsg msg;
    int rank = coll_rank(coll), size = coll_size(coll);
    if (!agree(coll, ready, mine, &msg, why, sizeof why)) {
        /* nccl_available's message names the library and starts "NCCL: ". */
        if (!strncmp(why, "NCCL: ", 6)) copy_text(err, errcap, why);
        else snprintf(err, errcap, "NCCL: rank %d of %d: %s", rank, size, why);
        free(n);
        free(c);
        return NULL;
    }
    n->g = g;
    n->timeout_s = timeout_s;
    *c = (DevComm){.name = "nccl", .impl = n, .rank = rank, .size = size, .sum_f32 = nccl_sum_f32,
                   .bcast = nccl_bcast, .wait = nccl_wait, .close = nccl_close};
    if (make_stream(c) != 0 || init_comm(c, &msg.id, device) != 0) {
        copy_text(err, errcap, c->err);
        nccl_close(c);
        return NULL;
    }
    return c;
}
