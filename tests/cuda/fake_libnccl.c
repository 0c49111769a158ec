/*
 * fake_libnccl.c: a stand-in for libnccl.so.2, so that the NCCL DevComm's
 * polling, deadlines and aborts (runtime/device/cuda/nccl_comm.c) are tested on
 * machines without a GPU (tests/run-cuda.sh loads it with GPTC_NCCL_LIB,
 * beside tests/cuda/fake_libcuda.c). It exports every entry point gptc
 * uses and behaves as a non-blocking communicator would, as the
 * environment says:
 *   FAKE_NCCL_INIT=HANG    setting up never finishes (ncclInProgress forever)
 *   FAKE_NCCL_INIT=ERROR   setting up ends in ncclRemoteError
 *   FAKE_NCCL_ASYNC=ERROR  collectives are queued at once (ncclSuccess), and
 *                          from then on the communicator reports
 *                          ncclRemoteError (a peer died while they ran)
 * Otherwise each call answers ncclInProgress, and the next
 * ncclCommGetAsyncError ncclSuccess. ncclCommAbort, ncclCommFinalize and
 * ncclCommDestroy say on stderr that they ran, and the collectives what
 * they were given.
 */
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static struct ncclComm {
    ncclResult_t state;
    int queued;
} the_comm;

static const char *env_is(const char *name, const char *value) {
    const char *e = getenv(name);
    return e && !strcmp(e, value) ? e : NULL;
}

EXPORT ncclResult_t ncclGetVersion(int *v) {
    *v = 22809;
    return ncclSuccess;
}

EXPORT const char *ncclGetErrorString(ncclResult_t r) {
    return r == ncclRemoteError ? "remote process exited or there was a network error" : "some NCCL result";
}

EXPORT const char *ncclGetLastError(ncclComm_t comm) {
    (void)comm;
    return "fake: rank 1 closed the connection";
}

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 7, sizeof *id);
    return ncclSuccess;
}

EXPORT ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank,
                                           ncclConfig_t *config) {
    (void)id;
    if (nranks != 1 || rank != 0 || config->blocking != 0) return ncclInvalidArgument;
    *comm = &the_comm;
    the_comm.state = ncclInProgress;
    return ncclInProgress;
}

EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *r) {
    if (env_is("FAKE_NCCL_ASYNC", "ERROR") && comm->queued) comm->state = ncclRemoteError;
    *r = comm->state;
    if (comm->state == ncclInProgress && !env_is("FAKE_NCCL_INIT", "HANG"))
        comm->state = env_is("FAKE_NCCL_INIT", "ERROR") ? ncclRemoteError : ncclSuccess;
    return ncclSuccess;
}

EXPORT ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device) {
    (void)comm;
    *device = 0;
    return ncclSuccess;
}

EXPORT ncclResult_t ncclCommFinalize(ncclComm_t comm) {
    fprintf(stderr, "fake nccl: ncclCommFinalize\n");
    comm->state = ncclInProgress;
    return ncclInProgress;
}

EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    (void)comm;
    fprintf(stderr, "fake nccl: ncclCommDestroy\n");
    return ncclSuccess;
}

EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm) {
    (void)comm;
    fprintf(stderr, "fake nccl: ncclCommAbort\n");
    return ncclSuccess;
}

EXPORT ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t type,
                                             ncclScalarResidence_t residence, ncclComm_t comm) {
    (void)comm;
    if (type != ncclFloat32 || residence != ncclScalarHostImmediate) return ncclInvalidArgument;
    fprintf(stderr, "fake nccl: premultiplied sum by %g\n", (double)*(float *)scalar);
    *op = ncclNumOps;
    return ncclSuccess;
}

EXPORT ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm) {
    (void)op, (void)comm;
    return ncclSuccess;
}

static ncclResult_t queue(ncclComm_t comm) {
    comm->queued++;
    if (env_is("FAKE_NCCL_ASYNC", "ERROR")) return ncclSuccess;
    comm->state = ncclInProgress;
    return ncclInProgress;
}

EXPORT ncclResult_t ncclAllReduce(const void *send, void *recv, size_t n, ncclDataType_t type, ncclRedOp_t op,
                                  ncclComm_t comm, cudaStream_t stream) {
    (void)stream;
    fprintf(stderr, "fake nccl: ncclAllReduce of %zu (type %d, op %d, %s)\n", n, (int)type, (int)op,
            send == recv ? "in place" : "not in place");
    return queue(comm);
}

EXPORT ncclResult_t ncclBroadcast(const void *send, void *recv, size_t n, ncclDataType_t type, int root,
                                  ncclComm_t comm, cudaStream_t stream) {
    (void)stream;
    fprintf(stderr, "fake nccl: ncclBroadcast of %zu (type %d, root %d, %s)\n", n, (int)type, root,
            send == recv ? "in place" : "not in place");
    return queue(comm);
}
