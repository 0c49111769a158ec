/*
 * launch.c: the ranks of `gptc train --ranks N` (launch.h), and their hub.
 *
 * N forks of this binary rather than mpirun: the GPU machines have no MPI,
 * and on one machine a socket to the parent is all the ranks need. Each
 * rank's collectives go through the parent (hub_wire.h): it reads every
 * rank's buffer, adds them over the MPI plugin's tree (so both give the
 * same bits) and sends the result back. Memory: one buffer per rank.
 *
 * The parent also watches the ranks, because no run may wait forever
 * (docs/design.md, 'Distributed training'): one poll() covers every socket
 * and a self-pipe that the SIGCHLD, SIGTERM and SIGINT handlers write to. A rank that dies, exits
 * before the end of the run, asks to abort, disagrees on the collective, or
 * is late to one by more than the rank timeout stops the job: the parent
 * says which rank and during which exchange, closes every socket (ranks
 * waiting on it leave at once), sends SIGTERM to the others, SIGKILL after
 * GRACE_S, and reaps them all. SIGTERM or SIGINT to the parent go to the
 * ranks as SIGTERM: they stop together at the next step and save (train.c).
 */
#include "runtime/dist/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <omp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/dist/coll.h"
#include "runtime/dist/hub_wire.h"
#include "compiler/util/fsutil.h"

extern char **environ;

/* Between SIGTERM and SIGKILL when stopping the ranks: time for rank 0 to
 * finish a checkpoint it is writing (it is written atomically anyway). */
#define GRACE_S 5.0
/* How long a rank whose socket closed may take to become reapable, so that
 * the message can say how it ended. */
#define REAP_WAIT_S 1.0

typedef struct {
    pid_t pid;          /* 0 once reaped */
    int fd;             /* the hub's end of its socket; -1 once closed */
    int status;         /* waitpid's, once reaped */
    bool finalized;     /* it said it ends on purpose */
    HubHeader h;        /* the collective it is sending */
    size_t hgot, pgot;  /* header and payload bytes received */
    bool arrived;       /* all of h and its payload are in */
    char *buf;          /* its payload */
    size_t cap;
    const char *out;    /* what the hub sends it back */
    size_t outlen, outsent;
    char last[HUB_WHAT]; /* the last exchange it joined */
} Rank;

typedef struct {
    Rank *r;
    int n;
    double timeout;
    int first;          /* the first rank at the current collective; -1: none */
    bool scatter;       /* sending a collective's results */
    double deadline;    /* of the collective, its results, or the ranks' exit */
    bool stopping;
    double kill_at;     /* SIGKILL for the ranks left; 0 once sent */
    int code;           /* the exit status, once stopping */
    char done[HUB_WHAT]; /* the collective whose results are being sent */
    struct pollfd *p;   /* the wake-up pipe, then each rank's socket */
} Hub;

static int wake_fd = -1; /* the self-pipe's write end */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* SIGCHLD: 'C'; SIGTERM, SIGINT: 'T'. The pipe is nonblocking: a full
 * pipe already holds a wake-up. */
static void on_signal(int sig) {
    int saved = errno;
    char c = sig == SIGCHLD ? 'C' : 'T';
    ssize_t k = write(wake_fd, &c, 1);
    (void)k;
    errno = saved;
}

static void set_handlers(void (*h)(int)) {
    struct sigaction sa = {.sa_handler = h, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* ---- starting the ranks ---- */

static bool is_hub_var(const char *e) {
    static const char *names[] = {HUB_ENV_FD, HUB_ENV_RANK, HUB_ENV_SIZE, HUB_ENV_LOCAL};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t len = strlen(names[i]);
        if (!strncmp(e, names[i], len) && e[len] == '=') return true;
    }
    return false;
}

/* Ours without any GPTC_HUB_ variables of a hub above us, then rank r's.
 * Built before fork: the child only calls execve (our process may have
 * threads, the CUDA driver's, after which fork allows nothing else). */
static char **rank_env(int fd, int r, int n, char vars[4][48]) {
    size_t count = 0;
    while (environ[count]) count++;
    char **env = malloc((count + 5) * sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (!is_hub_var(environ[i])) env[k++] = environ[i];
    snprintf(vars[0], 48, "%s=%d", HUB_ENV_FD, fd);
    snprintf(vars[1], 48, "%s=%d", HUB_ENV_RANK, r);
    snprintf(vars[2], 48, "%s=%d", HUB_ENV_SIZE, n);
    snprintf(vars[3], 48, "%s=%d", HUB_ENV_LOCAL, r);
    for (int i = 0; i < 4; i++) env[k++] = vars[i];
    env[k] = NULL;
    return env;
}

/* The rank's end of the socket stays open across exec; every other
 * descriptor of ours is close-on-exec. PDEATHSIG: a hub killed outright
 * takes its ranks along. */
static _Noreturn void exec_rank(int fd, pid_t hub, char **argv, char **env) {
    fcntl(fd, F_SETFD, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != hub) _exit(1);
    execve(argv[0], argv, env);
    static const char msg[] = "gptc train: cannot start a rank (execve failed)\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) _exit(127);
    _exit(127);
}

static bool start_rank(Hub *h, int r, char **argv) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
        perror("gptc train: socketpair");
        return false;
    }
    char vars[4][48];
    char **env = rank_env(sv[1], r, h->n, vars);
    pid_t hub = getpid(), pid = env ? fork() : -1;
    if (pid == 0) exec_rank(sv[1], hub, argv, env);
    free(env);
    close(sv[1]);
    if (pid < 0) {
        perror("gptc train: cannot start a rank");
        close(sv[0]);
        return false;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    h->r[r].pid = pid;
    h->r[r].fd = sv[0];
    return true;
}

/* ---- stopping ---- */

static void close_rank(Rank *r) {
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

static void signal_ranks(Hub *h, int sig) {
    for (int i = 0; i < h->n; i++)
        if (h->r[i].pid > 0) kill(h->r[i].pid, sig);
}

/* Stops every rank with exit status `code` after saying why. Closing the
 * sockets first frees ranks waiting on a collective at once; the others
 * stop at their next collective or on SIGTERM. */
static void stop(Hub *h, int code, const char *fmt, ...) {
    if (h->stopping) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("gptc train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("; stopping the other ranks\n", stderr);
    va_end(ap);
    h->stopping = true;
    h->code = code;
    for (int i = 0; i < h->n; i++) close_rank(&h->r[i]);
    signal_ranks(h, SIGTERM);
    h->kill_at = now_s() + GRACE_S;
}

static int exit_code(int status) { return status == 2 || status == 130 ? status : 1; }

/* "during "X"" for the collective under way, else "after "Y"" for the
 * last one rank r joined. */
static void during(const Hub *h, const Rank *r, char *out, size_t cap) {
    if (h->first >= 0) snprintf(out, cap, "during \"%s\"", h->r[h->first].h.what);
    else if (r->last[0]) snprintf(out, cap, "after \"%s\"", r->last);
    else snprintf(out, cap, "before its first exchange");
}

static void describe(int st, char *out, size_t cap) {
    if (WIFSIGNALED(st)) snprintf(out, cap, "ended on signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st)) snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
    else snprintf(out, cap, "exited before the end of the run");
}

static void rank_read(Hub *h, int i);

/* A rank that ended: fine after finalize unless a signal ended it (the
 * others agreed to end with the same status); anything else stops the
 * job. What it sent before it ended is read first: its finalize may still
 * be in the socket. */
static void rank_ended(Hub *h, int i, int st) {
    Rank *r = &h->r[i];
    r->pid = 0;
    r->status = st;
    if (!h->stopping && !h->scatter) rank_read(h, i);
    if (h->stopping || (r->finalized && !WIFSIGNALED(st))) return;
    char how[64], when[HUB_WHAT + 16];
    describe(st, how, sizeof how);
    during(h, r, when, sizeof when);
    stop(h, WIFSIGNALED(st) ? 1 : exit_code(WEXITSTATUS(st)), "rank %d %s %s", i, how, when);
}

static void reap(Hub *h) {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        for (int i = 0; i < h->n; i++)
            if (h->r[i].pid == pid) rank_ended(h, i, st);
}

/* Its socket closed: it ended, or is ending; wait a moment to say how
 * (unless it is reaped already: rank_ended judges then). */
static void rank_closed(Hub *h, int i) {
    Rank *r = &h->r[i];
    close_rank(r);
    if (r->finalized || h->stopping || r->pid == 0) return;
    for (double until = now_s() + REAP_WAIT_S; r->pid > 0 && now_s() < until;) {
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) return rank_ended(h, i, st);
        struct timespec p = {0, 2000000};
        nanosleep(&p, NULL);
    }
    char when[HUB_WHAT + 16];
    during(h, r, when, sizeof when);
    stop(h, 1, "rank %d closed its connection %s", i, when);
}

/* ---- the collectives ---- */

static void add_into(void *acc, const void *x, size_t bytes, uint32_t type) {
    if (type == COLL_F32) {
        float *a = acc;
        const float *b = x;
        for (size_t k = 0; k < bytes / sizeof *a; k++) a[k] += b[k];
    } else {
        double *a = acc;
        const double *b = x;
        for (size_t k = 0; k < bytes / sizeof *a; k++) a[k] += b[k];
    }
}

/* The MPI plugin's tree (coll_mpi.c), in one process: at stride s, rank
 * r with r % 2s == 0 adds rank r + s's partial to its own (own + other).
 * The sum ends in rank 0's buffer. */
static void tree_add(Hub *h, size_t bytes, uint32_t type) {
    for (int s = 1; s < h->n; s <<= 1)
        for (int r = 0; r + s < h->n; r += 2 * s) add_into(h->r[r].buf, h->r[r + s].buf, bytes, type);
}

/* Every rank has sent the collective: compute it and queue the answers. */
static void complete(Hub *h) {
    const HubHeader *op = &h->r[h->first].h;
    const char *result = NULL;
    static const char ack = 1;
    size_t len = 0;
    if (op->op == HUB_SUM) tree_add(h, op->bytes, op->type);
    if (op->op == HUB_SUM) result = h->r[0].buf, len = op->bytes;
    if (op->op == HUB_BCAST) result = h->r[op->root].buf, len = op->bytes;
    if (op->op == HUB_BARRIER) result = &ack, len = 1;
    bool finalize = op->op == HUB_FINALIZE;
    for (int i = 0; i < h->n; i++) {
        Rank *r = &h->r[i];
        bool gets = len > 0 && !(op->op == HUB_BCAST && i == op->root);
        r->out = result;
        r->outlen = gets ? len : 0;
        r->outsent = 0;
        r->arrived = false;
        r->hgot = r->pgot = 0;
        h->scatter |= gets;
    }
    snprintf(h->done, sizeof h->done, "%s", op->what);
    h->first = -1;
    /* After finalize, the ranks have the timeout to exit. */
    h->deadline = h->scatter || finalize ? now_s() + h->timeout : 0;
}

static bool same_op(const HubHeader *a, const HubHeader *b) {
    return a->op == b->op && a->seq == b->seq && a->bytes == b->bytes && a->type == b->type &&
           a->root == b->root;
}

static size_t payload_bytes(const HubHeader *op, int rank) {
    if (op->op == HUB_SUM) return op->bytes;
    return op->op == HUB_BCAST && op->root == rank ? op->bytes : 0;
}

/* Rank i's header is in: check it against the others', make room for
 * its payload. False when that stopped the job. */
static bool header_in(Hub *h, int i) {
    Rank *r = &h->r[i];
    r->h.what[HUB_WHAT - 1] = '\0';
    snprintf(r->last, sizeof r->last, "%s", r->h.what);
    if (r->h.op == HUB_ABORT)
        return stop(h, exit_code(r->h.root), "rank %d stopped the run (status %d)", i, r->h.root), false;
    if (r->h.op == HUB_FINALIZE) r->finalized = true;
    const Rank *f = h->first >= 0 ? &h->r[h->first] : NULL;
    if (f && !same_op(&f->h, &r->h))
        return stop(h, 1, "rank %d is at collective #%llu (\"%s\", op %u, %llu bytes) but rank %d at "
                          "#%llu (\"%s\", op %u, %llu bytes): the ranks disagree",
                    i, (unsigned long long)r->h.seq, r->h.what, r->h.op, (unsigned long long)r->h.bytes,
                    h->first, (unsigned long long)f->h.seq, f->h.what, f->h.op,
                    (unsigned long long)f->h.bytes), false;
    if (r->h.op < HUB_SUM || r->h.op > HUB_FINALIZE || r->h.root < 0 || r->h.root >= h->n ||
        (r->h.op == HUB_SUM && r->h.type != COLL_F32 && r->h.type != COLL_F64))
        return stop(h, 1, "rank %d sent a malformed collective", i), false;
    size_t need = payload_bytes(&r->h, i);
    if (need > r->cap) {
        char *p = realloc(r->buf, need);
        if (!p) return stop(h, 1, "the launcher is out of memory for \"%s\"", r->h.what), false;
        r->buf = p;
        r->cap = need;
    }
    if (!f) {
        h->first = i;
        h->deadline = now_s() + h->timeout;
    }
    return true;
}

/* Reads what rank i has sent, as far as it goes without blocking. */
static void rank_read(Hub *h, int i) {
    Rank *r = &h->r[i];
    while (!r->arrived && r->fd >= 0) {
        bool in_header = r->hgot < sizeof r->h;
        char *dst = in_header ? (char *)&r->h + r->hgot : r->buf + r->pgot;
        size_t want = in_header ? sizeof r->h - r->hgot : payload_bytes(&r->h, i) - r->pgot;
        ssize_t k = want ? recv(r->fd, dst, want, MSG_DONTWAIT) : 0;
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) return;
        if (want && k <= 0) return rank_closed(h, i);
        if (in_header) {
            r->hgot += (size_t)k;
            if (r->hgot == sizeof r->h && !header_in(h, i)) return;
        } else {
            r->pgot += (size_t)k;
        }
        r->arrived = r->hgot == sizeof r->h && r->pgot == payload_bytes(&r->h, i);
    }
}

static void rank_write(Hub *h, int i) {
    Rank *r = &h->r[i];
    while (r->fd >= 0 && r->outsent < r->outlen) {
        ssize_t k = send(r->fd, r->out + r->outsent, r->outlen - r->outsent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) return;
        if (k <= 0) return rank_closed(h, i);
        r->outsent += (size_t)k;
    }
}

/* ---- the loop ---- */

static int live(const Hub *h) {
    int n = 0;
    for (int i = 0; i < h->n; i++) n += h->r[i].pid > 0;
    return n;
}

static bool all_arrived(const Hub *h) {
    for (int i = 0; i < h->n; i++)
        if (!h->r[i].arrived) return false;
    return h->first >= 0;
}

static bool all_sent(const Hub *h) {
    for (int i = 0; i < h->n; i++)
        if (h->r[i].outsent < h->r[i].outlen) return false;
    return true;
}

/* Ranks late to a collective, late to take its result, or slow to exit. */
static void overdue(Hub *h) {
    char late[256] = "";
    size_t at = 0;
    for (int i = 0; i < h->n && at < sizeof late - 16; i++) {
        const Rank *r = &h->r[i];
        bool is_late = h->first >= 0 ? !r->arrived : h->scatter ? r->outsent < r->outlen : r->pid > 0;
        if (is_late) at += (size_t)snprintf(late + at, sizeof late - at, "%s%d", at ? ", " : "", i);
    }
    const char *whom = strchr(late, ',') ? "ranks" : "rank";
    if (h->first >= 0)
        stop(h, 1, "%s %s did not reach \"%s\" within %g s (hung or dead)", whom, late,
             h->r[h->first].h.what, h->timeout);
    else if (h->scatter)
        stop(h, 1, "%s %s did not take the result of \"%s\" within %g s (hung)", whom, late,
             h->done, h->timeout);
    else
        stop(h, 1, "%s %s did not exit within %g s of the end of the run", whom, late, h->timeout);
}

static int poll_ms(const Hub *h) {
    double until = h->stopping ? (h->kill_at > 0 ? h->kill_at : 0) : h->deadline;
    if (until <= 0) return -1;
    double left = until - now_s();
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

static void on_wake_pipe(Hub *h, int fd) {
    char c[64];
    ssize_t k;
    bool term = false;
    while ((k = read(fd, c, sizeof c)) > 0)
        for (ssize_t j = 0; j < k; j++) term |= c[j] == 'T';
    if (term) signal_ranks(h, SIGTERM);
    reap(h);
}

/* `polled`: when this round's poll began. A rank is late only if the
 * deadline had passed then: what it sent before is read by now, even if
 * this process was itself stopped for a while between reading and here. */
static void timers(Hub *h, double polled) {
    if (h->stopping && h->kill_at > 0 && now_s() >= h->kill_at) {
        signal_ranks(h, SIGKILL);
        h->kill_at = 0;
    } else if (!h->stopping && h->deadline > 0 && polled >= h->deadline) {
        overdue(h);
    }
}

/* One round: wait for a socket, a signal or a deadline, then act. A
 * socket closed while the hub is not reading it (the rank has arrived, or
 * results are going out) shows as POLLHUP. */
static void serve_once(Hub *h, int wake) {
    struct pollfd *p = h->p;
    p[0] = (struct pollfd){wake, POLLIN, 0};
    for (int i = 0; i < h->n; i++) {
        const Rank *r = &h->r[i];
        short ev = h->scatter ? (r->outsent < r->outlen ? POLLOUT : 0) : (r->arrived ? 0 : POLLIN);
        p[i + 1] = (struct pollfd){r->fd, ev, 0};
    }
    double polled = now_s();
    if (poll(p, (nfds_t)h->n + 1, poll_ms(h)) < 0 && errno != EINTR) {
        perror("gptc train: poll");
        stop(h, 1, "the launcher cannot wait for its ranks");
    }
    /* Sockets first: what the ranks sent before one of them ended names
     * the exchange the ended one was missing. */
    for (int i = 0; i < h->n && !h->stopping; i++) {
        if (!p[i + 1].revents || h->r[i].fd < 0) continue;
        if (h->scatter) rank_write(h, i);
        else rank_read(h, i);
        bool unread = h->scatter || h->r[i].arrived;
        if (unread && (p[i + 1].revents & (POLLHUP | POLLERR)) && h->r[i].fd >= 0) rank_closed(h, i);
    }
    if (p[0].revents) on_wake_pipe(h, wake);
    if (!h->stopping && !h->scatter && all_arrived(h)) complete(h);
    if (!h->stopping && h->scatter && all_sent(h)) {
        h->scatter = false;
        h->deadline = 0;
    }
    timers(h, polled);
}

static int serve(Hub *h, int wake) {
    while (live(h) > 0) serve_once(h, wake);
    if (h->stopping) return h->code;
    for (int i = 0; i < h->n; i++) {
        int st = h->r[i].status;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
        fprintf(stderr, "gptc train: the %d ranks stopped with status %d (see above)\n", h->n,
                WEXITSTATUS(st));
        return exit_code(WEXITSTATUS(st));
    }
    return 0;
}

/* argv of rank: this binary, the command (if any), args, --ranks N
 * --threads K. */
static char **rank_argv(int nranks, int threads, const char *command, int argc, char **args, char *np,
                        char *nthreads) {
    static char exe[PATH_MAX];
    if (!fs_self_exe(exe, sizeof exe)) {
        perror("gptc train: cannot find the gptc binary to start the ranks");
        return NULL;
    }
    int total = threads > 0 ? threads : omp_get_num_procs();
    snprintf(np, 16, "%d", nranks);
    snprintf(nthreads, 16, "%d", total / nranks > 0 ? total / nranks : 1);
    char **argv = calloc((size_t)argc + 8, sizeof *argv);
    if (!argv) return fputs("gptc: out of memory\n", stderr), NULL;
    int n = 0;
    argv[n++] = exe;
    if (command) argv[n++] = (char *)command;
    for (int i = 0; i < argc; i++) argv[n++] = args[i];
    argv[n++] = "--ranks";
    argv[n++] = np;
    argv[n++] = "--threads";
    argv[n++] = nthreads;
    return argv;
}

static int start_and_serve(Hub *h, char **argv) {
    int pipefd[2];
    if (pipe(pipefd)) {
        perror("gptc train: pipe");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(pipefd[i], F_SETFD, FD_CLOEXEC);
        fcntl(pipefd[i], F_SETFL, O_NONBLOCK);
    }
    wake_fd = pipefd[1];
    set_handlers(on_signal);
    fflush(NULL);
    for (int i = 0; i < h->n; i++)
        if (!start_rank(h, i, argv)) {
            stop(h, 1, "rank %d could not start", i);
            break;
        }
    int rc = serve(h, pipefd[0]);
    set_handlers(SIG_DFL);
    close(pipefd[0]);
    close(pipefd[1]);
    wake_fd = -1;
    return rc;
}

int launch_ranks(int nranks, int threads, const char *command, int argc, char **args, double timeout_s) {
    char np[16], nthreads[16];
    char **argv = rank_argv(nranks, threads, command, argc, args, np, nthreads);
    Hub h = {.n = nranks, .timeout = timeout_s, .first = -1};
    h.r = calloc((size_t)nranks, sizeof *h.r);
    h.p = calloc((size_t)nranks + 1, sizeof *h.p);
    if (!argv || !h.r || !h.p) {
        if (argv) fputs("gptc: out of memory\n", stderr);
        free(argv);
        free(h.r);
        free(h.p);
        return 1;
    }
    for (int i = 0; i < nranks; i++) h.r[i].fd = -1;
    int rc = start_and_serve(&h, argv);
    for (int i = 0; i < nranks; i++) {
        close_rank(&h.r[i]);
        free(h.r[i].buf);
    }
    free(h.r);
    free(h.p);
    free(argv);
    return rc;
}
