/*
 * coll.h: collectives between the ranks of a training run (docs/design.md,
 * 'Distributed training').
 *
 * One process per rank. The ranks that `gptc train --ranks N` (or --gpus
 * N) starts on one machine talk to it, their hub, over a socket each
 * (coll_hub.c, launch.c): no MPI there. A run started under mpirun or srun
 * uses MPI through a plugin, build/libgptc_mpi.so, that gptc loads with
 * dlopen only then: the gptc binary never links libmpi, so it starts on
 * machines without MPI. Any other run is a single rank.
 *
 * Sums are deterministic: the hub and the MPI plugin add the ranks'
 * buffers over a fixed binary tree (at stride s = 1, 2, 4, ..., rank r
 * with r % 2s == 0 adds rank r + s's buffer to its own); the result, rank
 * 0's, goes back to every rank. The result depends only on the number of
 * ranks, never on arrival order, and it is the aligned pairwise sum of
 * tree_sum.h: the same association that tree_sum gives one process adding
 * the same buffers.
 *
 * No wait is unbounded: every wait for another rank has a deadline (the
 * timeout given to coll_open); past it, the hub, or under MPI the rank,
 * prints which rank was late and on what, and stops the whole job. A rank
 * that dies outright is normally noticed first by mpirun, or by the hub,
 * which ends the job.
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

/* This process's number among the ranks on its machine (GPTC_LOCAL_RANK
 * from the hub, OMPI_COMM_WORLD_LOCAL_RANK from mpirun, SLURM_LOCALID from
 * srun; 0 when none is set): the GPU a cuda rank opens. */
int coll_local_rank(void);

/* Whether `gptc train --ranks N` started this process as one of its ranks. */
bool coll_hub_started(void);

/* Opens the collectives: the hub's when the hub started this process, MPI
 * when a launcher did, else a single rank. `timeout_s` bounds every wait for another rank.
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

/* ---- the implementations' interface (runtime/dist/mpi/coll_mpi.c, coll_hub.c) ---- */

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

/* The same interface over the hub's socket (coll_hub.c), built into gptc. */
const CollPlugin *coll_hub(void);

#endif
