/*
 * cuda/nccl_comm.h: NCCL, loaded at run time with dlopen, as the `cuda`
 * executor's DevComm (runtime/dist/devcomm.h).
 *
 * gptc never links -lnccl, so every binary starts on a machine without
 * NCCL; the toolkit's nccl.h supplies the types only (for cuda/nccl_comm.c
 * alone: this header needs neither). The library is $GPTC_NCCL_LIB when set
 * (only that), else libnccl.so.2 on the loader's path, else
 * $CUDA_HOME/lib64/libnccl.so.2 (CUDA_HOME defaults to /usr/local/cuda).
 * Every entry point is resolved with dlsym and checked: a library that
 * lacks one is an error naming it, never a crash at the first call.
 * Loading needs no GPU.
 *
 * The communicator is non-blocking (ncclConfig_t.blocking = 0): no NCCL
 * call blocks the process; gptc polls it, and every wait has the run's
 * deadline. On a deadline or an NCCL error the communicator is aborted
 * (ncclCommAbort, which also stops NCCL's kernels on the GPU), the call
 * returns -1 with "NCCL: rank R of N: what: why", and every later call
 * returns -1 with that first reason.
 *
 * Streams: NCCL runs on a stream of its own in the Gpu's context. Each
 * collective is queued after the work already queued on the Gpu's stream
 * (an event recorded there, waited for by the NCCL stream) and runs beside
 * the Gpu's later work; wait() blocks the host until every collective
 * queued so far is done, then makes the Gpu's stream wait for them, so the
 * Gpu's later work sees the results.
 */
#ifndef GPTC_CUDA_NCCL_H
#define GPTC_CUDA_NCCL_H

#include <stddef.h>

#include "runtime/dist/coll.h"
#include "runtime/dist/devcomm.h"
#include "runtime/device/gpu.h"

/* Loads NCCL once per process (thread-safe). Its version code (22809 for
 * 2.28.9), with "NCCL 2.28.9 (PATH)" in msg; or 0 with the reason in msg:
 * "NCCL: libnccl.so.2 not found (tried ...); set GPTC_NCCL_LIB", "NCCL:
 * PATH has no ncclCommInitRankConfig", ... */
int nccl_available(char *msg, size_t cap);

/* A DevComm over NCCL between the ranks of coll, for the cuda Gpu g (which
 * is device `device`, checked against NCCL's view of the context). Every
 * rank of coll must call it: rank 0 makes the NCCL id and sends it to all
 * with coll_bcast; then each rank learns (coll_sum_f64) whether every rank
 * could start, so that none waits for a rank that gave up. timeout_s
 * bounds the communicator's setup and each wait (from the call: a wait's
 * includes the Gpu work queued before its collectives). NULL with the reason in
 * err: no NCCL (nccl_available's message), g not a cuda Gpu, another rank
 * failing, NCCL's error, or the deadline ("... within 60 s"). Use it from
 * the thread that uses g; close with c->close(c) before closing g. */
DevComm *devcomm_nccl(Gpu *g, Coll *coll, int device, double timeout_s, char *err, size_t errcap);

#endif
