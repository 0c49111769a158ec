/*
 * devcomm_host.c: the host collectives as device collectives (devcomm.h),
 * for the sim executor, whose device pointers are host memory. Each call
 * completes before it returns, so wait has nothing left to do.
 */
#include "runtime/dist/devcomm.h"

#include <stdlib.h>

static int host_sum_f32(DevComm *c, Gpu *g, float *buf, size_t n, float scale) {
    (void)g;
    coll_sum_f32(c->impl, buf, n, "the gradients");
    /* As train.c scales the host sum: the same product, so that a run on N
     * ranks matches one process running the N slices bit for bit. */
    if (scale != 1.0f)
        for (size_t i = 0; i < n; i++) buf[i] *= scale;
    return 0;
}

static int host_bcast(DevComm *c, Gpu *g, void *buf, size_t bytes, int root) {
    (void)g;
    coll_bcast(c->impl, buf, bytes, root, "Muon's updated weights");
    return 0;
}

static int host_wait(DevComm *c, Gpu *g) {
    (void)c, (void)g;
    return 0;
}

static void host_close(DevComm *c) { free(c); }

DevComm *devcomm_host(Coll *coll) {
    DevComm *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (DevComm){.name = "host", .impl = coll, .rank = coll_rank(coll), .size = coll_size(coll),
                   .sum_f32 = host_sum_f32, .bcast = host_bcast, .wait = host_wait, .close = host_close};
    return c;
}
