/*
 * gpu.h: the one small interface through which the runtime drives a
 * device (docs/design.md, 'Executors'): allocate, copy, launch a generated
 * kernel, GEMM, events. Two implementations: `sim` (runtime/device/sim/gpu_sim.c: host memory,
 * the generated kernels compiled for the CPU, GEMMs through CBLAS) and
 * `cuda` (runtime/device/cuda/gpu_cuda.c: the driver API loaded with dlopen,
 * cubins from NVRTC, cuBLASLt). The generated schedule and the executor
 * are written once against this interface.
 *
 * Pointers returned by alloc are device pointers: only this interface may
 * read or write through them (on sim they happen to be host memory).
 * Every call returns 0 on success, or -1 with the reason in gpu->err.
 * Calls are ordered as issued (one stream); copy_to_host waits for all
 * work before it.
 */
#ifndef GPTC_GPU_H
#define GPTC_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { GPU_BF16 = 0, GPU_F32 = 1 } GpuDtype;

/* C = alpha op(A) op(B) + beta C, all row-major, batched with strides (in
 * elements; 0 with batch 1). op(A) is [m, k], op(B) is [k, n], C is
 * [m, n]. trans_a means A is stored [k, m] (lda >= m), likewise trans_b:
 * B stored [n, k]. Products accumulate in fp32 whatever the dtypes; a bf16
 * C is rounded to nearest even at the end. beta is 0 or 1 (1 adds into C,
 * read in C's dtype). With beta 1 and a bf16 C, cuBLASLt may also round
 * the product to bf16 before adding C: that is x + bf16(x W^T), the
 * residual add of PyTorch's bf16 model, and the GPU tests accept either
 * (and count the elements that needed it). */
typedef struct GpuGemm {
    int m, n, k, batch;
    int trans_a, trans_b;
    GpuDtype a_type, b_type, c_type;
    const void *a;
    const void *b;
    void *c;
    long long lda, ldb, ldc;
    long long stride_a, stride_b, stride_c;
    float alpha, beta;
    /* The C that beta scales when it is not c itself (the same layout and
     * dtype; NULL: c): D = alpha A B + beta C_in into c, so that a sum
     * that must keep its first term needs no copy of it first. */
    const void *c_in;
} GpuGemm;

/* Why mm is not a GEMM that every Gpu runs ("" when it is): sizes, leading
 * dimensions, dtypes (bf16 x bf16 -> bf16 or fp32, fp32 x fp32 -> fp32:
 * what cuBLASLt does with fp32 compute), beta. The sim device refuses what
 * the GPU would, so that a plan checked on sim runs on cuda. */
void gpu_gemm_check(const GpuGemm *mm, char *why, size_t cap);

/* A GEMM algorithm by its configuration fields, enough to rebuild it in
 * another process: cuBLASLt's (cublasLtMatmulAlgoConfigAttributes_t: the
 * algorithm's id, tile, stages, split-K count, reduction scheme, CTA
 * swizzling, custom option, inner shape, cluster shape); sim's emulated
 * ones use id and splitk (the k sum in splitk parts, added in order). */
typedef struct {
    int id, tile, stages, splitk, reduction, swizzle, custom, inner, cluster;
} GpuGemmAlgo;

/* The shape of mm as a tuning key: sizes, batch, transposes, dtypes and
 * whether beta is 0, e.g. "m512_n128_k128_nt_hhh_b0" (h bf16, f fp32). */
void gpu_gemm_key(const GpuGemm *mm, char *out, size_t cap);

/* How many elements of C (from mm->c, ldc and the batch's stride) mm
 * writes, gaps included: the extent to copy or compare. */
size_t gpu_gemm_c_count(const GpuGemm *mm);

typedef struct GpuLaunch {
    unsigned grid[3], block[3];
    size_t smem_bytes;
} GpuLaunch;

/* One timed launch or GEMM (Gpu.timed): the kernel's name, or "gemm "
 * and the GEMM's key (gpu_gemm_timed_name), and its device time. */
#define GPU_TIMED_NAME 96
typedef struct {
    char name[GPU_TIMED_NAME];
    double ms;
} GpuTimed;

/* A GEMM's name in the timing log: "gemm " and gpu_gemm_key's text. */
void gpu_gemm_timed_name(const GpuGemm *mm, char out[GPU_TIMED_NAME]);

typedef struct Gpu Gpu;
struct Gpu {
    const char *name; /* "sim" or "cuda" */
    void *impl;
    char err[512];
    void *(*alloc)(Gpu *g, size_t bytes); /* zeroed, 256-byte aligned; NULL on failure */
    void (*free)(Gpu *g, void *p);
    int (*copy_to_device)(Gpu *g, void *dst, const void *src, size_t bytes);
    int (*copy_to_host)(Gpu *g, void *dst, const void *src, size_t bytes);
    int (*copy_device)(Gpu *g, void *dst, const void *src, size_t bytes);
    int (*memset_zero)(Gpu *g, void *p, size_t bytes);
    /* Launches kernel `name` (an extern "C" symbol of the model's
     * kernels.cu) with cuLaunchKernel-style args. */
    int (*launch)(Gpu *g, const char *name, const GpuLaunch *l, void **args);
    int (*gemm)(Gpu *g, const GpuGemm *mm);
    int (*sync)(Gpu *g);
    /* Milliseconds of device time since the last call (0 on sim). */
    double (*elapsed_ms)(Gpu *g);
    /* Timing each launch and GEMM alone (gptc tune): while on, cuda
     * brackets each with events on the stream, and first overwrites
     * wipe_bytes of scratch memory (0: none) outside the events, so that a
     * kernel starts with what it reads out of the L2 cache; sim, which
     * runs a launch before returning, reads the host's monotonic clock
     * around it. Turning it on or off forgets what was timed. */
    int (*set_timing)(Gpu *g, bool on, size_t wipe_bytes);
    /* Waits for the device and gives the launches and GEMMs timed since
     * set_timing or the last call, in order (the array is the Gpu's, valid
     * until its next call), then forgets them. */
    int (*timed)(Gpu *g, const GpuTimed **out, int *n);
    /* GEMM algorithms (gptc tune): gemm_algos gives up to max of the
     * algorithms the device offers for mm's shape besides its default
     * (cuBLASLt: the heuristic's next ones; sim: split-K in 2 and 4), and
     * returns how many, or -1; gemm_use makes every GEMM whose shape has
     * gpu_gemm_key `key` run algorithm a from now on (NULL: the device's
     * default; a NULL key: every shape back to the default). A GEMM whose
     * algorithm the device cannot run for its shape fails, naming it. */
    int (*gemm_algos)(Gpu *g, const GpuGemm *mm, GpuGemmAlgo *out, int max);
    int (*gemm_use)(Gpu *g, const char *key, const GpuGemmAlgo *a);
    void (*close)(Gpu *g);
};

/* The implementations' record of timed launches (set_timing, timed). */
typedef struct {
    GpuTimed *v;
    int n, cap;
} GpuTimeLog;

/* Appends an entry named `name` with no time yet; NULL when out of memory. */
GpuTimed *gpu_time_log_add(GpuTimeLog *l, const char *name);
void gpu_time_log_free(GpuTimeLog *l);

/* Writes the reason into g->err; returns -1, for `return gpu_fail(...)`. */
int gpu_fail(Gpu *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
