/*
 * coll.h: collectives between the ranks of a training run (design.md §7).
 *
 * One process per rank. A run started under mpirun or srun (or by
 * `gptc train --ranks N`, which starts mpirun) uses MPI through a plugin,
 * build/libgptc_mpi.so, that gptc loads with dlopen only then: the gptc
 * binary never links libmpi, so it starts on machines without MPI. Any
 * other run is a single rank, with no MPI at all.
 *
 * Sums are deterministic: the plugin adds the ranks' buffers over a fixed
 * binary tree (at stride s = 1, 2, 4, ..., rank r with r % 2s == 0 adds
 * rank r + s's buffer to its own), then rank 0 sends the result back down
 * the same tree. The result depends only on the number of ranks, never on
 * arrival order, and it is the aligned pairwise sum of tree_sum.h: the same
 * association that tree_sum gives one process adding the same buffers.
 *
 * No wait is unbounded: every wait for another rank has a deadline (the
 * timeout given to coll_open); past it, the rank prints which rank it was
 * waiting for and on what, and aborts the whole job (MPI_Abort). A rank
 * that dies outright is normally noticed first by mpirun, which ends the
 * job.
 */
#ifndef GPTC_COLL_H
#define GPTC_COLL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct Coll Coll;

/* Where MPI's launchers say the process count is: OMPI_COMM_WORLD_SIZE
 * (mpirun), PMI_SIZE or SLURM_STEP_NUM_TASKS (srun). 0 when none is set
 * (not started by a launcher). */
int coll_launcher_size(void);

/* Opens the collectives: MPI when the process was started by a launcher,
 * else a single rank. `timeout_s` bounds every wait for another rank.
 * NULL with a message when MPI is needed and the plugin cannot be loaded
 * or MPI cannot start. */
Coll *coll_open(double timeout_s, char *err, size_t errcap);
/* Ends MPI (when it was started); every rank must call it. */
void coll_close(Coll *c);

int coll_rank(const Coll *c);
int coll_size(const Coll *c);

/* Every rank's buf[0..n) summed over the tree, on every rank. `what` names
 * the exchange in timeout messages, e.g. "the gradients of step 12". */
void coll_sum_f32(Coll *c, float *buf, size_t n, const char *what);
void coll_sum_f64(Coll *c, double *buf, size_t n, const char *what);
/* Rank root's bytes on every rank. */
void coll_bcast(Coll *c, void *buf, size_t bytes, int root, const char *what);
void coll_barrier(Coll *c, const char *what);
/* Ends every rank of the job with `status`, after printing msg. */
_Noreturn void coll_abort(Coll *c, int status, const char *msg);

/* ---- the plugin's interface (runtime/mpi/coll_mpi.c) ---- */

#define GPTC_COLL_ABI 2
#define GPTC_COLL_SYMBOL "gptc_coll_mpi"

typedef enum { COLL_F32, COLL_F64 } CollType;

typedef struct {
    int abi; /* GPTC_COLL_ABI */
    /* Starts MPI; false with a message. */
    bool (*init)(double timeout_s, int *rank, int *size, char *err, size_t errcap);
    void (*sum)(void *buf, size_t n, CollType type, const char *what);
    void (*bcast)(void *buf, size_t bytes, int root, const char *what);
    void (*barrier)(const char *what);
    void (*abort_job)(int status);
    void (*finalize)(void);
} CollPlugin;

/* The plugin exports `const CollPlugin *gptc_coll_mpi(void)`. */
typedef const CollPlugin *(*CollPluginEntry)(void);

#endif
