/*
 * gpu_cuda.h: the `cuda` implementation of Gpu (runtime/device/gpu.h) on a real
 * GPU, and the question whether there is one.
 *
 * Nothing here is linked against CUDA: the driver (cuda_drv.h), cuBLASLt
 * (cublaslt.h) and NVRTC (compiler/codegen/nvrtc.h) are loaded with dlopen, so a
 * binary with this code starts on any machine and says why there is no GPU.
 *
 * gpu_cuda_open: the device's primary context, one stream (every call is
 * ordered on it), a 32 MiB cuBLASLt workspace, two events for elapsed_ms,
 * and, given the text of a model's kernels.cu, its module: compiled by
 * NVRTC for the device's architecture (sm_90a on compute capability 9.0,
 * else sm_XY), with the headers embedded in gptc, through NVRTC's content
 * -hash compile cache, then cuModuleLoadData. Kernels are looked up by name
 * on first launch (cuModuleGetFunction) and kept; a launch with more than
 * 48 KiB of dynamic shared memory first raises the function's limit
 * (cuFuncSetAttribute). Every failure returns -1 with the call and the
 * CUresult's name in g->err (or in err for open); nothing aborts.
 *
 * Use a Gpu from the thread that opened it: the context is made current
 * there. Allocations are zeroed (cuMemsetD8Async on the stream) and
 * 256-byte aligned (checked); the sizes of live allocations are counted, for
 * gpu_cuda_stats.
 */
#ifndef GPTC_GPU_CUDA_H
#define GPTC_GPU_CUDA_H

#include <stddef.h>

#include "compiler/build.h"
#include "runtime/device/gpu.h"

typedef struct {
    int device;                 /* ordinal: 0 for the first GPU */
    const char *kernels_source; /* the text of a model's kernels.cu; NULL: no
                                 * module (copies, memsets and GEMMs only) */
    const char *cache_dir;      /* NVRTC's compile cache: NULL its default, "" none */
    /* The same kernels compiled ahead of time: the one for this GPU's
     * architecture (cuda_cubin_for) is loaded instead of running NVRTC. */
    const BuildCubin *cubins;
    int ncubins;
    /* More programs of kernels (gptc tune's variants), each compiled by
     * NVRTC beside kernels_source, in parallel, and loaded as a module of
     * its own; a launch finds its kernel in whichever module has it. */
    const char *const *extra_sources;
    int nextra;
} GpuCudaConfig;

/* Opens device cfg->device as *g (g->name is "cuda"); 0, or -1 with the
 * reason in err (NVRTC's log included when the kernels do not compile).
 * Close with g->close(g). */
int gpu_cuda_open(Gpu *g, const GpuCudaConfig *cfg, char *err, size_t errcap);

/* The number of CUDA devices; 0 with the reason in why when there is none
 * or no usable driver ("no GPU: libcuda.so.1 not found (...)", "no GPU:
 * cuInit failed: CUDA_ERROR_NO_DEVICE", "no GPU: the driver sees no
 * device"). $GPTC_CUDA_LIB names another driver library (tests hide the
 * driver with it). */
int cuda_device_count(char *why, size_t cap);

typedef struct {
    char name[256];         /* cuDeviceGetName */
    int cc_major, cc_minor; /* compute capability */
    int sms;                /* multiprocessors */
    int l2_bytes;           /* the L2 cache */
    int sm_khz, mem_khz;    /* peak clocks */
    size_t total_mem;       /* bytes */
    int driver_version;     /* 13000 for CUDA 13.0 */
    char arch[16];          /* what NVRTC compiled for: "sm_90a" */
    int nvrtc_major, nvrtc_minor;
    size_t cublaslt_version;
    int module_cached;      /* the module came from the compile cache */
    double compile_seconds; /* NVRTC (or the cache) */
} GpuCudaInfo;

/* Of n cubins, the one a GPU of compute capability major.minor runs: its
 * own architecture's, else an earlier one of the same major (a cubin runs
 * on later minors of its major) that is not arch-specific ("sm_90a" runs
 * on 9.0 only). NULL when none fits. */
const BuildCubin *cuda_cubin_for(const BuildCubin *c, int n, int major, int minor);

/* What device `ordinal` is, without opening it (no context): its name,
 * compute capability, SMs, L2, clocks and memory, the driver's version, and
 * NVRTC's and cuBLASLt's where they load (0 where not). 0, or -1 with the
 * reason in err. */
int gpu_cuda_describe(int ordinal, GpuCudaInfo *info, char *err, size_t cap);

/* What device g is; -1 when g is not an open cuda Gpu. */
int gpu_cuda_info(const Gpu *g, GpuCudaInfo *info);

/* The context and the stream of an open cuda Gpu (cuda.h's CUcontext and
 * CUstream, named by their structs so that this header needs no cuda.h),
 * for code that queues its own work in order with g's (cuda/nccl_comm.c); -1
 * when g is not an open cuda Gpu. */
struct CUctx_st;
struct CUstream_st;
int gpu_cuda_handles(const Gpu *g, struct CUctx_st **ctx, struct CUstream_st **stream);

/* Bytes allocated through g now, and the most at any time since open. */
void gpu_cuda_stats(const Gpu *g, size_t *now, size_t *peak);

#endif
