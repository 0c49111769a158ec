/*
 * coll_hub.c: coll.h's collectives for a rank that `gptc train --ranks N`
 * started (runtime/dist/launch.c): the rank sends its part of each exchange to
 * the hub (the parent gptc) over the socket in $GPTC_HUB_FD, and reads the
 * result back (hub_wire.h). The hub, not the ranks, adds the buffers, over
 * the same tree as the MPI plugin, so both give the same bits.
 *
 * Every exchange has a deadline: the rank timeout, plus a little, so that
 * the hub, which sees every rank, speaks first and names a late rank; this
 * deadline only catches a hub that is itself stuck. A hub that has gone or
 * stopped the run closes the socket; the rank then says during which
 * exchange and exits 1 (the hub has already said why).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/dist/coll.h"
#include "runtime/dist/hub_wire.h"

/* The hub's own deadline comes first; this one covers a hub that hangs. */
#define HUB_GRACE_S 5.0

static int hub_fd = -1, my_rank, world_size;
static double timeout_s;
static uint64_t next_seq;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static _Noreturn void hub_gone(const char *what) {
    fprintf(stderr, "gptc train: rank %d: the launcher stopped the run during %s\n", my_rank, what);
    exit(1);
}

static _Noreturn void hub_late(const char *what) {
    fprintf(stderr, "gptc train: rank %d: no answer from the launcher within %g s during %s "
                    "(it is hung); stopping\n", my_rank, timeout_s + HUB_GRACE_S, what);
    exit(1);
}

/* Waits until the socket is ready for `events`; false past the deadline. */
static bool ready(short events, double deadline) {
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) return false;
        struct pollfd p = {hub_fd, events, 0};
        int rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc > 0) return true; /* readable, writable, or closed: the I/O says which */
        if (rc < 0 && errno != EINTR) return false;
    }
}

/* Partial writes and signals (train.c catches SIGINT and SIGTERM) are
 * normal; MSG_NOSIGNAL: a closed hub is an error code, not SIGPIPE. */
static void send_all(const void *buf, size_t bytes, double deadline, const char *what) {
    const char *p = buf;
    while (bytes > 0) {
        if (!ready(POLLOUT, deadline)) hub_late(what);
        ssize_t k = send(hub_fd, p, bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) hub_gone(what);
        p += k;
        bytes -= (size_t)k;
    }
}

static void recv_all(void *buf, size_t bytes, double deadline, const char *what) {
    char *p = buf;
    while (bytes > 0) {
        if (!ready(POLLIN, deadline)) hub_late(what);
        ssize_t k = recv(hub_fd, p, bytes, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) hub_gone(what);
        p += k;
        bytes -= (size_t)k;
    }
}

static double send_header(uint32_t op, uint32_t type, uint64_t bytes, int root, const char *what) {
    HubHeader h = {.op = op, .type = type, .seq = next_seq++, .bytes = bytes, .root = root};
    snprintf(h.what, sizeof h.what, "%s", what);
    double deadline = now_s() + timeout_s + HUB_GRACE_S;
    send_all(&h, sizeof h, deadline, what);
    return deadline;
}

static bool env_int(const char *name, int lo, int *out) {
    const char *v = getenv(name);
    char *end;
    long x = v ? strtol(v, &end, 10) : -1;
    if (!v || !*v || *end || x < lo || x > 1 << 20) return false;
    *out = (int)x;
    return true;
}

static bool init(double timeout, int *rank, int *size, char *err, size_t errcap) {
    if (!env_int(HUB_ENV_FD, 0, &hub_fd) || !env_int(HUB_ENV_SIZE, 1, &world_size) ||
        !env_int(HUB_ENV_RANK, 0, &my_rank) || my_rank >= world_size ||
        fcntl(hub_fd, F_GETFD) < 0) {
        snprintf(err, errcap, "%s, %s and %s do not describe a rank of a gptc launcher",
                 HUB_ENV_FD, HUB_ENV_RANK, HUB_ENV_SIZE);
        return false;
    }
    /* Processes this rank starts (compilers) must not hold the socket open:
     * the hub learns that a rank died from its socket closing. */
    fcntl(hub_fd, F_SETFD, FD_CLOEXEC);
    timeout_s = timeout;
    *rank = my_rank;
    *size = world_size;
    return true;
}

static void sum(void *buf, size_t n, CollType type, const char *what) {
    size_t bytes = n * (type == COLL_F32 ? sizeof(float) : sizeof(double));
    double deadline = send_header(HUB_SUM, type, bytes, 0, what);
    send_all(buf, bytes, deadline, what);
    recv_all(buf, bytes, deadline, what);
}

static void bcast(void *buf, size_t bytes, int root, const char *what) {
    double deadline = send_header(HUB_BCAST, 0, bytes, root, what);
    if (my_rank == root) send_all(buf, bytes, deadline, what);
    else recv_all(buf, bytes, deadline, what);
}

static void barrier(const char *what) {
    char ack;
    double deadline = send_header(HUB_BARRIER, 0, 0, 0, what);
    recv_all(&ack, 1, deadline, what);
}

/* The hub stops the other ranks; this one leaves with the status. A hub
 * that is gone already needs no telling, hence no error path. */
static void abort_job(int status) {
    fflush(stdout);
    fflush(stderr);
    HubHeader h = {.op = HUB_ABORT, .seq = next_seq++, .root = status};
    snprintf(h.what, sizeof h.what, "an abort");
    send(hub_fd, &h, sizeof h, MSG_NOSIGNAL | MSG_DONTWAIT);
    exit(status);
}

/* Tells the hub that this rank ends on purpose, so that its socket
 * closing is not taken for a crash. */
static void finalize(void) {
    send_header(HUB_FINALIZE, 0, 0, 0, "the end of the run");
    close(hub_fd);
    hub_fd = -1;
}

static const CollPlugin plugin = {GPTC_COLL_ABI, init, sum, bcast, barrier, abort_job, finalize};

const CollPlugin *coll_hub(void) { return &plugin; }

bool coll_hub_started(void) { return getenv(HUB_ENV_FD) != NULL; }
