/*
 * devcomm.h: collectives on device memory between the ranks of a run, for
 * the device executors (docs/design.md, 'Distributed training'): the
 * gradients averaged during the backward pass, and Muon's directions, each
 * computed by one rank, sent to all.
 *
 * Two implementations:
 *   host  (devcomm_host.c) for `sim`, whose device memory is host memory:
 *         the run's host collectives (coll.h) straight on the buffers, at
 *         once. Sums are therefore coll.h's fixed tree, and a run on N
 *         ranks gives the parameters of one process running the N slices.
 *   nccl  (cuda/nccl_comm.c) for `cuda`: NCCL on a stream of its own. A call is
 *         queued after the work already queued on the Gpu and runs beside
 *         the work queued later, until wait.
 *
 * Every call returns 0, or -1 with the reason in c->err; after a failure
 * (another rank gone, a deadline passed) the communicator is unusable and
 * the run must stop.
 */
#ifndef GPTC_DEVCOMM_H
#define GPTC_DEVCOMM_H

#include <stddef.h>

#include "runtime/dist/coll.h"
#include "runtime/device/gpu.h"

typedef struct DevComm DevComm;
struct DevComm {
    const char *name; /* "host" or "nccl" */
    void *impl;
    int rank, size;
    char err[512];
    /* buf[0..n) (fp32, device) = scale * (the sum over the ranks of buf). */
    int (*sum_f32)(DevComm *c, Gpu *g, float *buf, size_t n, float scale);
    /* Rank root's bytes at buf (device) on every rank. */
    int (*bcast)(DevComm *c, Gpu *g, void *buf, size_t bytes, int root);
    /* Returns once every collective queued so far has completed (within the
     * run's deadline for a rank): the Gpu's later work sees their results. */
    int (*wait)(DevComm *c, Gpu *g);
    void (*close)(DevComm *c);
};

/* The host collectives of `coll` as a DevComm, for a Gpu whose device
 * pointers are host pointers (sim). NULL when out of memory. */
DevComm *devcomm_host(Coll *coll);

#endif
