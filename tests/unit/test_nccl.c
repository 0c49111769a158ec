/*
 * test_nccl.c: the NCCL DevComm (runtime/device/cuda/nccl_comm.c) on a real GPU, as
 * one rank: the lent machine has one GPU, and NCCL runs a 1-rank
 * communicator through the same calls (its one-rank path: a copy, or a
 * scaling kernel for a premultiplied sum). Runs with GPTC_TEST_DEVICE=cuda
 * (as the GPU check runs test_simstep.c); elsewhere it says "skipped:".
 *
 * What one rank can show: the communicator comes up non-blocking and
 * closes; sum_f32 gives exactly scale * x (scales 0.5 and 0.25 are exact
 * in fp32) and waits for the Gpu's work queued before it (the input is
 * written by a device-to-device copy queued just before, behind a large
 * memset: without the event NCCL would read zeros or a half-copied
 * buffer); two collectives queued back to back without a wait apply in
 * order; bcast of odd byte counts leaves the bytes and their neighbours as
 * they were; wait() orders the Gpu's later work after the collectives; a
 * bad root is refused. What it cannot show: sums across ranks, a peer's
 * failure or the deadline (those need several GPUs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/dist/coll.h"
#include "runtime/device/cuda/gpu_cuda.h"
#include "runtime/device/cuda/nccl_comm.h"
#include "tests/unit/test.h"

#define N_SUM ((size_t)3 * 1000 * 1000 + 17)
#define TIMING_BYTES ((size_t)64 << 20)

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Normal floats of all magnitudes and both signs, so that x * 0.5 and
 * x * 0.125 are exact (no subnormal results). */
static void fill(float *x, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        float m = 1.0f + (float)(seed >> 9) / (float)(1u << 23);
        int e = (int)(seed % 41) - 20;
        x[i] = ldexpf(seed & 1 ? -m : m, e);
    }
}

static size_t count_diff(const float *got, const float *x, size_t n, float scale) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != x[i] * scale;
    return bad;
}

/* sum_f32 on a buffer written just before by Gpu work, two collectives
 * back to back, then wait and a copy on the Gpu's stream. */
static void check_sums(DevComm *c, Gpu *g) {
    size_t bytes = N_SUM * sizeof(float);
    float *x = malloc(bytes), *got = malloc(bytes);
    float *src = g->alloc(g, bytes), *buf = g->alloc(g, bytes), *after = g->alloc(g, bytes);
    CHECK(x && got && src && buf && after);
    if (!x || !got || !src || !buf || !after) goto done;
    fill(x, N_SUM, 12345);
    CHECK(g->copy_to_device(g, src, x, bytes) == 0);
    CHECK(g->sync(g) == 0);
    /* The input arrives through device work queued right before the sum. */
    CHECK(g->memset_zero(g, buf, bytes) == 0);
    CHECK(g->copy_device(g, buf, src, bytes) == 0);
    CHECK(c->sum_f32(c, g, buf, N_SUM, 0.5f) == 0);
    CHECK(c->sum_f32(c, g, buf, N_SUM, 0.25f) == 0);
    CHECK(c->wait(c, g) == 0);
    CHECK(g->copy_device(g, after, buf, bytes) == 0);
    CHECK(g->copy_to_host(g, got, after, bytes) == 0);
    size_t bad = count_diff(got, x, N_SUM, 0.125f);
    printf("nccl: sum_f32 x0.5 then x0.25 of %zu floats: %zu differ from x*0.125\n", N_SUM, bad);
    CHECK_EQ_INT(bad, 0);
    /* Scale 1 (plain ncclSum) leaves the values; 0.5 again reuses its operator. */
    CHECK(c->sum_f32(c, g, buf, N_SUM, 1.0f) == 0);
    CHECK(c->sum_f32(c, g, buf, N_SUM, 0.5f) == 0);
    CHECK(c->wait(c, g) == 0);
    CHECK(g->copy_to_host(g, got, buf, bytes) == 0);
    CHECK_EQ_INT(count_diff(got, x, N_SUM, 0.0625f), 0);
done:
    g->free(g, src), g->free(g, buf), g->free(g, after);
    free(x), free(got);
}

/* bcast from root 0 of odd byte counts at odd offsets: the bytes and their
 * neighbours stay as they were; a root out of range is refused. */
static void check_bcast(DevComm *c, Gpu *g) {
    const size_t total = 1 << 21;
    static const size_t offsets[] = {1, 100, 4097}, counts[] = {1, 7, 1000003};
    uint8_t *want = malloc(total), *got = malloc(total);
    uint8_t *buf = g->alloc(g, total);
    CHECK(want && got && buf);
    if (!want || !got || !buf) goto done;
    for (size_t i = 0; i < total; i++) want[i] = (uint8_t)(i * 2654435761u >> 13);
    CHECK(g->copy_to_device(g, buf, want, total) == 0);
    for (int k = 0; k < 3; k++) CHECK(c->bcast(c, g, buf + offsets[k], counts[k], 0) == 0);
    CHECK(c->wait(c, g) == 0);
    CHECK(g->copy_to_host(g, got, buf, total) == 0);
    CHECK(memcmp(got, want, total) == 0);
    CHECK(c->bcast(c, g, buf, 8, 1) == -1);
    CHECK_HAS(c->err, "NCCL: rank 0 of 1: broadcast from rank 1");
done:
    g->free(g, buf);
    free(want), free(got);
}

/* 64 MiB all-reduce with scale 0.5 (on one rank: NCCL's scaling kernel, a
 * read and a write of the buffer): informational. */
static void time_allreduce(DevComm *c, Gpu *g) {
    size_t n = TIMING_BYTES / sizeof(float);
    float *buf = g->alloc(g, TIMING_BYTES);
    CHECK(buf != NULL);
    if (!buf) return;
    CHECK(c->sum_f32(c, g, buf, n, 0.5f) == 0 && c->wait(c, g) == 0);
    const int reps = 20;
    double t0 = seconds();
    for (int i = 0; i < reps; i++) CHECK(c->sum_f32(c, g, buf, n, 0.5f) == 0);
    CHECK(c->wait(c, g) == 0);
    double dt = (seconds() - t0) / reps;
    printf("nccl: 64 MiB all-reduce on 1 rank: %.3f ms, %.1f GB/s (buffer bytes / time; informational)\n",
           dt * 1e3, (double)TIMING_BYTES / dt / 1e9);
    g->free(g, buf);
}

TEST(nccl_single_rank_on_gpu) {
    const char *d = getenv("GPTC_TEST_DEVICE");
    char why[1024];
    if (!d || strcmp(d, "cuda")) {
        test_skip("a GPU test: runs with GPTC_TEST_DEVICE=cuda");
        return;
    }
    if (cuda_device_count(why, sizeof why) == 0) {
        test_skip(why);
        return;
    }
    CHECK(nccl_available(why, sizeof why) > 0);
    printf("nccl: %s\n", why);
    Gpu g;
    GpuCudaConfig cfg = {.device = 0, .cache_dir = ""};
    if (gpu_cuda_open(&g, &cfg, why, sizeof why) != 0) {
        fprintf(stderr, "  gpu_cuda_open: %s\n", why);
        CHECK(!"gpu_cuda_open");
        return;
    }
    Coll *coll = coll_open(60, why, sizeof why);
    CHECK(coll != NULL);
    double t0 = seconds();
    DevComm *c = coll ? devcomm_nccl(&g, coll, 0, 60, why, sizeof why) : NULL;
    if (coll && !c) fprintf(stderr, "  devcomm_nccl: %s\n", why);
    CHECK(c != NULL);
    if (c) {
        printf("nccl: communicator of %d rank up in %.2f s\n", c->size, seconds() - t0);
        CHECK_EQ_INT(c->size, 1);
        CHECK_EQ_INT(c->rank, 0);
        CHECK(!strcmp(c->name, "nccl"));
        check_sums(c, &g);
        check_bcast(c, &g);
        time_allreduce(c, &g);
        c->close(c);
    }
    if (coll) coll_close(coll);
    g.close(&g);
}
