/*
 * launch.c: the ranks of `gptc train --ranks N` (launch.h).
 *
 * mpirun starts them rather than N forks of our own: MPI ranks can only
 * find each other through a launcher's rendezvous (PMIx), and mpirun also
 * watches them: when one dies, it ends the others and says which. The
 * ranks run exactly as under an mpirun the user typed. `--mca plm
 * isolated` keeps the job on this machine, so no ssh is needed.
 */
#include "launch.h"

#include <errno.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child;

/* SIGTERM to us goes to mpirun, which passes it to the ranks; they then
 * stop together (train.c) and we report how they ended. Ctrl-C reaches
 * every process of the terminal's group at once, so we only wait. */
static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

static int wait_ranks(pid_t pid, int nranks) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            perror("gptc train: waitpid");
            return 1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return 1; /* exec failed: said so */
    if (WIFEXITED(st))
        fprintf(stderr, "gptc train: the %d ranks stopped with status %d (see above)\n", nranks,
                WEXITSTATUS(st));
    else
        fprintf(stderr, "gptc train: mpirun ended on signal %d\n", WTERMSIG(st));
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    return code == 2 || code == 130 ? code : 1;
}

int launch_ranks(int nranks, int threads, int argc, char **args) {
    char exe[4096], np[16], nthreads[16];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        perror("gptc train: cannot find the gptc binary to start the ranks");
        return 1;
    }
    exe[len] = '\0';
    int total = threads > 0 ? threads : omp_get_num_procs();
    snprintf(np, sizeof np, "%d", nranks);
    snprintf(nthreads, sizeof nthreads, "%d", total / nranks > 0 ? total / nranks : 1);
    char **argv = calloc((size_t)argc + 20, sizeof *argv);
    if (!argv) return fputs("gptc: out of memory\n", stderr), 1;
    int n = 0;
    argv[n++] = "mpirun";
    argv[n++] = "-np";
    argv[n++] = np;
    argv[n++] = "--oversubscribe"; /* more ranks than cores is slow, not wrong */
    argv[n++] = "--mca";
    argv[n++] = "plm";
    argv[n++] = "isolated";
    if (geteuid() == 0) argv[n++] = "--allow-run-as-root";
    argv[n++] = exe;
    argv[n++] = "train";
    for (int i = 0; i < argc; i++) argv[n++] = args[i];
    argv[n++] = "--ranks";
    argv[n++] = np;
    argv[n++] = "--threads";
    argv[n++] = nthreads;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("gptc train: fork");
        free(argv);
        return 1;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "gptc train: --ranks %d needs Open MPI's mpirun, which could not be "
                        "started: %s (scripts/setup.sh installs it)\n", nranks, strerror(errno));
        _exit(127);
    }
    free(argv);
    child = pid;
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN);
    int rc = wait_ranks(pid, nranks);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    return rc;
}
