/*
 * coll_mpi.c: coll.h's collectives over MPI, built as a plugin
 * (build/libgptc_mpi.so, linked with libmpi) that gptc loads with dlopen
 * only for multi-rank runs: the gptc binary itself never needs libmpi.
 *
 * Sums follow a fixed binary tree with point-to-point messages, rather
 * than MPI_Allreduce, whose association MPI does not promise: at stride
 * s = 1, 2, 4, ..., rank r with r % 2s == 0 receives rank r + s's partial
 * sum and adds it to its own (own + received, in that order), and rank
 * r % 2s == s sends its partial to r - s. Rank 0 then holds the sum and
 * sends it back down the same tree.
 *
 * Every wait is a nonblocking request polled against a deadline: a rank
 * that hangs, or dies without the launcher noticing, makes its peers print
 * whom they waited for and on what, then MPI_Abort the job.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/dist/coll.h"

/* Big buffers go in pieces: MPI counts are ints. */
#define CHUNK_BYTES ((size_t)1 << 30)

static int my_rank, world_size;
static double timeout_s;
static void *scratch;
static size_t scratch_bytes;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* peer -1: some rank (a barrier does not say which). */
static _Noreturn void give_up(int peer, const char *doing, const char *what) {
    char who[32] = "another rank";
    if (peer >= 0) snprintf(who, sizeof who, "rank %d", peer);
    fprintf(stderr,
            "gptc train: rank %d: %s did not %s %s within %g s (hung or dead); "
            "stopping every rank\n",
            my_rank, who, doing, what, timeout_s);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* Polls req until it completes, sleeping a little longer each time (up to
 * 1 ms) so that an idle rank leaves the cores to the others. */
static void wait_for(MPI_Request *req, int peer, const char *doing, const char *what) {
    double deadline = now_s() + timeout_s;
    long pause_ns = 1000;
    for (;;) {
        int done = 0;
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) give_up(peer, doing, what);
        if (done) return;
        if (now_s() > deadline) give_up(peer, doing, what);
        struct timespec p = {0, pause_ns};
        nanosleep(&p, NULL);
        if (pause_ns < 1000000) pause_ns *= 2;
    }
}

static void send_bytes(const void *buf, size_t bytes, int peer, const char *what) {
    for (size_t at = 0; at < bytes; at += CHUNK_BYTES) {
        size_t len = bytes - at < CHUNK_BYTES ? bytes - at : CHUNK_BYTES;
        MPI_Request req;
        MPI_Isend((const char *)buf + at, (int)len, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &req);
        wait_for(&req, peer, "take", what);
    }
}

static void recv_bytes(void *buf, size_t bytes, int peer, const char *what) {
    for (size_t at = 0; at < bytes; at += CHUNK_BYTES) {
        size_t len = bytes - at < CHUNK_BYTES ? bytes - at : CHUNK_BYTES;
        MPI_Request req;
        MPI_Irecv((char *)buf + at, (int)len, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &req);
        wait_for(&req, peer, "send", what);
    }
}

static bool init(double timeout, int *rank, int *size, char *err, size_t errcap) {
    int started = 0;
    MPI_Initialized(&started);
    if (!started && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        snprintf(err, errcap, "MPI_Init failed");
        return false;
    }
    /* Errors come back as codes, so that a broken link is our message and
     * our abort rather than MPI's default handler. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    timeout_s = timeout;
    *rank = my_rank;
    *size = world_size;
    return true;
}

static bool grow_scratch(size_t bytes) {
    if (bytes <= scratch_bytes) return true;
    void *p = realloc(scratch, bytes);
    if (!p) return false;
    scratch = p;
    scratch_bytes = bytes;
    return true;
}

static void add_into(void *acc, const void *x, size_t n, CollType type) {
    if (type == COLL_F32) {
        float *a = acc;
        const float *b = x;
        for (size_t i = 0; i < n; i++) a[i] += b[i];
    } else {
        double *a = acc;
        const double *b = x;
        for (size_t i = 0; i < n; i++) a[i] += b[i];
    }
}

/* Rank 0's buffer down the tree: each rank receives from the rank that
 * sent it its first partial, then sends to the ranks it received from,
 * largest stride first. */
/* From `root` down a binary tree over the ranks renumbered so that root
 * is 0. */
static void tree_bcast(void *buf, size_t bytes, int root, const char *what) {
    int v = (my_rank - root + world_size) % world_size, s = 1;
    while (s < world_size && !(v & s)) s <<= 1;
    if (v) recv_bytes(buf, bytes, (v - s + root) % world_size, what);
    for (s >>= 1; s >= 1; s >>= 1)
        if (v + s < world_size) send_bytes(buf, bytes, (v + s + root) % world_size, what);
}

static void sum(void *buf, size_t n, CollType type, const char *what) {
    size_t bytes = n * (type == COLL_F32 ? sizeof(float) : sizeof(double));
    for (int s = 1; s < world_size; s <<= 1) {
        if (my_rank & s) {
            send_bytes(buf, bytes, my_rank - s, what);
            break;
        }
        if (my_rank + s >= world_size) continue;
        if (!grow_scratch(bytes)) {
            fprintf(stderr, "gptc train: rank %d: out of memory for %s\n", my_rank, what);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        recv_bytes(scratch, bytes, my_rank + s, what);
        add_into(buf, scratch, n, type);
    }
    tree_bcast(buf, bytes, 0, what);
}

static void barrier(const char *what) {
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    wait_for(&req, -1, "reach", what);
}

static void abort_job(int status) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
}

static void finalize(void) {
    free(scratch);
    scratch = NULL;
    scratch_bytes = 0;
    MPI_Finalize();
}

static const CollPlugin plugin = {GPTC_COLL_ABI, init, sum, tree_bcast, barrier, abort_job,
                                  finalize};

const CollPlugin *gptc_coll_mpi(void);
const CollPlugin *gptc_coll_mpi(void) { return &plugin; }
