/*
 * gpu_cuda.c: Gpu on a real device through the dlopen'ed driver API (see
 * gpu_cuda.h for what and why).
 */
#include "runtime/device/cuda/gpu_cuda.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device/cuda/cublaslt.h"
#include "runtime/device/cuda/cuda_drv.h"
#include "compiler/codegen/nvrtc.h"

#define FUNC_SLOTS 1024 /* a power of two, far above any model's kernel count */
#define DEFAULT_SMEM_LIMIT (48 << 10)
#define GPU_CUDA_MAX_MODULES 65

typedef struct {
    char *name; /* NULL: a free slot */
    CUfunction fn;
    size_t smem_limit; /* the dynamic smem the function may use now */
} Func;

typedef struct {
    CUdeviceptr p;
    size_t bytes;
} Alloc;

typedef struct {
    const CudaDrv *d;
    CUdevice dev;
    CUcontext ctx;
    CUstream stream;
    CUevent mark[2]; /* elapsed_ms: the last mark, and the next */
    int last_mark;
    CUmodule modules[GPU_CUDA_MAX_MODULES];
    int nmodules;
    CUdeviceptr workspace;
    CublasLt *lt;
    Func funcs[FUNC_SLOTS];
    Alloc *allocs;
    int nallocs, cap_allocs;
    size_t bytes_now, bytes_peak;
    GpuCudaInfo info;
    /* set_timing: an event pair per timed call (log entry i's), created as
     * the log grows and kept; the scratch memory the wipe overwrites. */
    bool timing;
    GpuTimeLog log;
    CUevent *ev;
    int nev;
    CUdeviceptr wipe;
    size_t wipe_bytes;
} CudaGpu;

static CudaGpu *impl(Gpu *g) { return g->impl; }

/* Formats "what: CUDA_ERROR_..." into g->err; returns -1. */
static int cu_fail(Gpu *g, CUresult r, const char *what) {
    snprintf(g->err, sizeof g->err, "%s: %s", what, cuda_result_name(impl(g)->d, r));
    return -1;
}

#define CU_CHECK(g, call, what)                                                                              \
    do {                                                                                                      \
        CUresult cu_r_ = (call);                                                                              \
        if (cu_r_ != CUDA_SUCCESS) return cu_fail(g, cu_r_, what);                                            \
    } while (0)

static CUdeviceptr dptr(const void *p) { return (CUdeviceptr)(uintptr_t)p; }

/* ---- memory ---- */

static bool track(CudaGpu *c, CUdeviceptr p, size_t bytes) {
    if (c->nallocs == c->cap_allocs) {
        int cap = c->cap_allocs ? c->cap_allocs * 2 : 64;
        Alloc *bigger = realloc(c->allocs, sizeof *bigger * (size_t)cap);
        if (!bigger) return false;
        c->allocs = bigger, c->cap_allocs = cap;
    }
    c->allocs[c->nallocs++] = (Alloc){p, bytes};
    c->bytes_now += bytes;
    if (c->bytes_now > c->bytes_peak) c->bytes_peak = c->bytes_now;
    return true;
}

static void *cuda_alloc(Gpu *g, size_t bytes) {
    CudaGpu *c = impl(g);
    size_t rounded = bytes ? (bytes + 255) / 256 * 256 : 256;
    CUdeviceptr p = 0;
    CUresult r = c->d->MemAlloc(&p, rounded);
    if (r != CUDA_SUCCESS) {
        char what[80];
        snprintf(what, sizeof what, "cuMemAlloc(%zu bytes)", rounded);
        cu_fail(g, r, what);
        return NULL;
    }
    if (p % 256 != 0) {
        snprintf(g->err, sizeof g->err, "cuMemAlloc returned %#llx, not 256-byte aligned", (unsigned long long)p);
    } else if ((r = c->d->MemsetD8Async(p, 0, rounded, c->stream)) != CUDA_SUCCESS) {
        cu_fail(g, r, "cuMemsetD8Async (zeroing a new allocation)");
    } else if (!track(c, p, rounded)) {
        snprintf(g->err, sizeof g->err, "out of host memory");
    } else {
        return (void *)(uintptr_t)p;
    }
    c->d->MemFree(p);
    return NULL;
}

static void cuda_free(Gpu *g, void *p) {
    CudaGpu *c = impl(g);
    if (!p) return;
    for (int i = 0; i < c->nallocs; i++)
        if (c->allocs[i].p == dptr(p)) {
            c->bytes_now -= c->allocs[i].bytes;
            c->allocs[i] = c->allocs[--c->nallocs];
            break;
        }
    CUresult r = c->d->MemFree(dptr(p));
    if (r != CUDA_SUCCESS) cu_fail(g, r, "cuMemFree");
}

static int cuda_copy_to_device(Gpu *g, void *dst, const void *src, size_t bytes) {
    CU_CHECK(g, impl(g)->d->MemcpyHtoDAsync(dptr(dst), src, bytes, impl(g)->stream), "cuMemcpyHtoDAsync");
    return 0;
}

static int cuda_copy_to_host(Gpu *g, void *dst, const void *src, size_t bytes) {
    CudaGpu *c = impl(g);
    CU_CHECK(g, c->d->MemcpyDtoHAsync(dst, dptr(src), bytes, c->stream), "cuMemcpyDtoHAsync");
    CU_CHECK(g, c->d->StreamSynchronize(c->stream), "cuStreamSynchronize (after a copy to the host)");
    return 0;
}

static int cuda_copy_device(Gpu *g, void *dst, const void *src, size_t bytes) {
    CU_CHECK(g, impl(g)->d->MemcpyDtoDAsync(dptr(dst), dptr(src), bytes, impl(g)->stream), "cuMemcpyDtoDAsync");
    return 0;
}

static int cuda_memset_zero(Gpu *g, void *p, size_t bytes) {
    CU_CHECK(g, impl(g)->d->MemsetD8Async(dptr(p), 0, bytes, impl(g)->stream), "cuMemsetD8Async");
    return 0;
}

/* ---- kernels ---- */

static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The function called `name`, looked up in the module on first use. */
static Func *get_func(Gpu *g, const char *name) {
    CudaGpu *c = impl(g);
    if (!c->nmodules) {
        snprintf(g->err, sizeof g->err, "launch %s: this Gpu was opened without kernels", name);
        return NULL;
    }
    for (uint32_t i = name_hash(name), probes = 0; probes < FUNC_SLOTS; i++, probes++) {
        Func *f = &c->funcs[i & (FUNC_SLOTS - 1)];
        if (f->name && !strcmp(f->name, name)) return f;
        if (f->name) continue;
        CUfunction fn;
        CUresult r = CUDA_ERROR_NOT_FOUND;
        for (int m = 0; m < c->nmodules && r == CUDA_ERROR_NOT_FOUND; m++) r = c->d->ModuleGetFunction(&fn, c->modules[m], name);
        if (r != CUDA_SUCCESS) {
            snprintf(g->err, sizeof g->err, "cuModuleGetFunction(%.200s): %s", name, cuda_result_name(c->d, r));
            return NULL;
        }
        if (!(f->name = strdup(name))) {
            snprintf(g->err, sizeof g->err, "out of host memory");
            return NULL;
        }
        f->fn = fn, f->smem_limit = DEFAULT_SMEM_LIMIT;
        return f;
    }
    snprintf(g->err, sizeof g->err, "launch %s: more than %d kernels", name, FUNC_SLOTS);
    return NULL;
}

/* ---- timing each call (set_timing) ---- */

/* Before a timed call: the wipe, then its start event. *i is its log
 * entry, or -1 when timing is off. */
static int time_start(Gpu *g, const char *name, int *i) {
    CudaGpu *c = impl(g);
    *i = -1;
    if (!c->timing) return 0;
    if (!gpu_time_log_add(&c->log, name)) return gpu_fail(g, "out of host memory");
    *i = c->log.n - 1;
    if (2 * c->log.n > c->nev) {
        CUevent *ev = realloc(c->ev, sizeof *ev * (size_t)(2 * c->log.cap));
        if (!ev) return gpu_fail(g, "out of host memory");
        c->ev = ev;
        for (; c->nev < 2 * c->log.cap; c->nev++)
            CU_CHECK(g, c->d->EventCreate(&c->ev[c->nev], CU_EVENT_DEFAULT), "cuEventCreate (timing)");
    }
    if (c->wipe_bytes) CU_CHECK(g, c->d->MemsetD8Async(c->wipe, (unsigned char)*i, c->wipe_bytes, c->stream), "cuMemsetD8Async (the L2 wipe)");
    CU_CHECK(g, c->d->EventRecord(c->ev[2 * *i], c->stream), "cuEventRecord (timing)");
    return 0;
}

static int time_end(Gpu *g, int i, int rc) {
    CudaGpu *c = impl(g);
    if (rc || i < 0) return rc;
    CU_CHECK(g, c->d->EventRecord(c->ev[2 * i + 1], c->stream), "cuEventRecord (timing)");
    return 0;
}

static int cuda_set_timing(Gpu *g, bool on, size_t wipe_bytes) {
    CudaGpu *c = impl(g);
    CU_CHECK(g, c->d->StreamSynchronize(c->stream), "cuStreamSynchronize");
    c->log.n = 0;
    c->timing = on;
    if (c->wipe_bytes != (on ? wipe_bytes : 0)) {
        if (c->wipe) c->d->MemFree(c->wipe);
        c->wipe = 0, c->wipe_bytes = 0;
        if (on && wipe_bytes) CU_CHECK(g, c->d->MemAlloc(&c->wipe, wipe_bytes), "cuMemAlloc (the L2 wipe's scratch)");
        c->wipe_bytes = on ? wipe_bytes : 0;
    }
    return 0;
}

static int cuda_timed(Gpu *g, const GpuTimed **out, int *n) {
    CudaGpu *c = impl(g);
    CU_CHECK(g, c->d->StreamSynchronize(c->stream), "cuStreamSynchronize");
    for (int i = 0; i < c->log.n; i++) {
        float ms = 0;
        CU_CHECK(g, c->d->EventElapsedTime(&ms, c->ev[2 * i], c->ev[2 * i + 1]), "cuEventElapsedTime (timing)");
        c->log.v[i].ms = ms;
    }
    *out = c->log.v, *n = c->log.n;
    c->log.n = 0;
    return 0;
}

static int cuda_launch_now(Gpu *g, const char *name, const GpuLaunch *l, void **args) {
    CudaGpu *c = impl(g);
    Func *f = get_func(g, name);
    if (!f) return -1;
    char what[300];
    if (l->smem_bytes > f->smem_limit) {
        CUresult r = c->d->FuncSetAttribute(f->fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)l->smem_bytes);
        if (r != CUDA_SUCCESS) {
            snprintf(what, sizeof what, "cuFuncSetAttribute(%.200s, max dynamic smem %zu bytes)", name, l->smem_bytes);
            return cu_fail(g, r, what);
        }
        f->smem_limit = l->smem_bytes;
    }
    CUresult r = c->d->LaunchKernel(f->fn, l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1],
                                    l->block[2], (unsigned)l->smem_bytes, c->stream, args, NULL);
    if (r != CUDA_SUCCESS) {
        snprintf(what, sizeof what, "cuLaunchKernel(%.160s, grid %ux%ux%u, block %ux%ux%u, smem %zu)", name,
                 l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1], l->block[2], l->smem_bytes);
        return cu_fail(g, r, what);
    }
    return 0;
}

static int cuda_launch(Gpu *g, const char *name, const GpuLaunch *l, void **args) {
    int i;
    if (time_start(g, name, &i)) return -1;
    return time_end(g, i, cuda_launch_now(g, name, l, args));
}

/* ---- GEMM, sync, time ---- */

static int cuda_gemm(Gpu *g, const GpuGemm *mm) {
    int i;
    char name[GPU_TIMED_NAME];
    gpu_gemm_timed_name(mm, name);
    if (time_start(g, name, &i)) return -1;
    return time_end(g, i, cublaslt_gemm(impl(g)->lt, mm, g->err, sizeof g->err));
}

static int cuda_gemm_algos(Gpu *g, const GpuGemm *mm, GpuGemmAlgo *out, int max) {
    return cublaslt_algos(impl(g)->lt, mm, out, max, g->err, sizeof g->err);
}

static int cuda_gemm_use(Gpu *g, const char *key, const GpuGemmAlgo *a) {
    return cublaslt_use(impl(g)->lt, key, a, g->err, sizeof g->err);
}

static int cuda_sync(Gpu *g) {
    CU_CHECK(g, impl(g)->d->StreamSynchronize(impl(g)->stream), "cuStreamSynchronize");
    return 0;
}

/* Records the next mark, waits for it, and measures from the last one. */
static double cuda_elapsed_ms(Gpu *g) {
    CudaGpu *c = impl(g);
    int next = 1 - c->last_mark;
    float ms = 0;
    CUresult r = c->d->EventRecord(c->mark[next], c->stream);
    const char *what = "cuEventRecord";
    if (r == CUDA_SUCCESS) r = c->d->EventSynchronize(c->mark[next]), what = "cuEventSynchronize";
    if (r == CUDA_SUCCESS) r = c->d->EventElapsedTime(&ms, c->mark[c->last_mark], c->mark[next]), what = "cuEventElapsedTime";
    if (r != CUDA_SUCCESS) return cu_fail(g, r, what);
    c->last_mark = next;
    return ms;
}

/* ---- open and close ---- */

static void cuda_close(Gpu *g) {
    CudaGpu *c = impl(g);
    if (!c) return;
    if (c->ctx) c->d->StreamSynchronize(c->stream);
    cublaslt_close(c->lt);
    for (int i = 0; i < FUNC_SLOTS; i++) free(c->funcs[i].name);
    for (int i = 0; i < c->nallocs; i++) c->d->MemFree(c->allocs[i].p);
    free(c->allocs);
    if (c->workspace) c->d->MemFree(c->workspace);
    if (c->wipe) c->d->MemFree(c->wipe);
    for (int i = 0; i < c->nev; i++) c->d->EventDestroy(c->ev[i]);
    free(c->ev);
    gpu_time_log_free(&c->log);
    for (int m = 0; m < c->nmodules; m++) c->d->ModuleUnload(c->modules[m]);
    for (int i = 0; i < 2; i++)
        if (c->mark[i]) c->d->EventDestroy(c->mark[i]);
    if (c->stream) c->d->StreamDestroy(c->stream);
    if (c->ctx) c->d->DevicePrimaryCtxRelease(c->dev);
    free(c);
    g->impl = NULL;
}

int cuda_device_count(char *why, size_t cap) {
    char reason[700];
    const CudaDrv *d = cuda_drv(reason, sizeof reason);
    if (!d) {
        snprintf(why, cap, "no GPU: %s", reason);
        return 0;
    }
    int n = 0;
    CUresult r = d->DeviceGetCount(&n);
    if (r != CUDA_SUCCESS) snprintf(why, cap, "no GPU: cuDeviceGetCount failed: %s", cuda_result_name(d, r));
    else if (n < 1) snprintf(why, cap, "no GPU: the driver sees no device");
    return r == CUDA_SUCCESS && n > 0 ? n : 0;
}

/* The device's description, through the driver alone; the failing call or NULL. */
static const char *query_info(const CudaDrv *d, int ordinal, CUdevice *dev, GpuCudaInfo *in, CUresult *r) {
    static const struct {
        CUdevice_attribute a;
        size_t off;
    } attrs[] = {{CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, offsetof(GpuCudaInfo, cc_major)},
                 {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, offsetof(GpuCudaInfo, cc_minor)},
                 {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, offsetof(GpuCudaInfo, sms)},
                 {CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, offsetof(GpuCudaInfo, l2_bytes)},
                 {CU_DEVICE_ATTRIBUTE_CLOCK_RATE, offsetof(GpuCudaInfo, sm_khz)},
                 {CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, offsetof(GpuCudaInfo, mem_khz)}};
    if ((*r = d->DeviceGet(dev, ordinal)) != CUDA_SUCCESS) return "cuDeviceGet";
    if ((*r = d->DeviceGetName(in->name, sizeof in->name, *dev)) != CUDA_SUCCESS) return "cuDeviceGetName";
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if ((*r = d->DeviceGetAttribute((int *)((char *)in + attrs[i].off), attrs[i].a, *dev)) != CUDA_SUCCESS)
            return "cuDeviceGetAttribute";
    if ((*r = d->DeviceTotalMem(&in->total_mem, *dev)) != CUDA_SUCCESS) return "cuDeviceTotalMem";
    in->driver_version = d->driver_version;
    /* Hopper's arch-specific features (wgmma, setmaxnreg) need the "a" target. */
    snprintf(in->arch, sizeof in->arch, "sm_%d%d%s", in->cc_major, in->cc_minor,
             in->cc_major == 9 && in->cc_minor == 0 ? "a" : "");
    return NULL;
}

static int device_info(Gpu *g, int ordinal) {
    CudaGpu *c = impl(g);
    CUresult r;
    const char *call = query_info(c->d, ordinal, &c->dev, &c->info, &r);
    return call ? cu_fail(g, r, call) : 0;
}

int gpu_cuda_describe(int ordinal, GpuCudaInfo *info, char *err, size_t cap) {
    memset(info, 0, sizeof *info);
    int n = cuda_device_count(err, cap);
    if (n == 0) return -1;
    if (ordinal < 0 || ordinal >= n) return snprintf(err, cap, "device %d: this machine has %d", ordinal, n), -1;
    const CudaDrv *d = cuda_drv(NULL, 0);
    CUdevice dev;
    CUresult r;
    const char *call = query_info(d, ordinal, &dev, info, &r);
    if (call) return snprintf(err, cap, "%s: %s", call, cuda_result_name(d, r)), -1;
    char why[256];
    if (nvrtc_load(why, sizeof why)) nvrtc_version(&info->nvrtc_major, &info->nvrtc_minor);
    info->cublaslt_version = cublaslt_version();
    return 0;
}

static int context_and_stream(Gpu *g) {
    CudaGpu *c = impl(g);
    CU_CHECK(g, c->d->DevicePrimaryCtxRetain(&c->ctx, c->dev), "cuDevicePrimaryCtxRetain");
    CU_CHECK(g, c->d->CtxSetCurrent(c->ctx), "cuCtxSetCurrent");
    CU_CHECK(g, c->d->StreamCreate(&c->stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    for (int i = 0; i < 2; i++) CU_CHECK(g, c->d->EventCreate(&c->mark[i], CU_EVENT_DEFAULT), "cuEventCreate");
    CU_CHECK(g, c->d->MemAlloc(&c->workspace, CUBLASLT_WORKSPACE_BYTES), "cuMemAlloc(the cuBLASLt workspace)");
    if (!(c->lt = cublaslt_open(c->stream, c->workspace, g->err, sizeof g->err))) return -1;
    c->info.cublaslt_version = cublaslt_version();
    return 0;
}

/* The last `keep` bytes of a log, for a message. */
static const char *tail(const char *log, size_t keep) {
    size_t n = log ? strlen(log) : 0;
    return n > keep ? log + n - keep : log ? log : "";
}

const BuildCubin *cuda_cubin_for(const BuildCubin *c, int n, int major, int minor) {
    const BuildCubin *best = NULL;
    int best_minor = -1;
    for (int i = 0; i < n; i++) {
        int ma = 0, mi = 0;
        char tail[4] = "";
        if (sscanf(c[i].arch, "sm_%1d%1d%3s", &ma, &mi, tail) < 2 || ma != major) continue;
        bool specific = tail[0] != '\0';
        if (specific ? mi == minor : mi <= minor && mi > best_minor) {
            if (specific) return &c[i];
            best = &c[i], best_minor = mi;
        }
    }
    return best;
}

/* The kernels compiled ahead of time for this GPU, where the
 * configuration has them. */
static int load_cubin(Gpu *g, const BuildCubin *cubin) {
    CudaGpu *c = impl(g);
    c->info.module_cached = 1;
    CUresult r = c->d->ModuleLoadData(&c->modules[0], cubin->data);
    if (r != CUDA_SUCCESS) return cu_fail(g, r, "cuModuleLoadData");
    c->nmodules = 1;
    return 0;
}

static int load_module(Gpu *g, const GpuCudaConfig *cfg) {
    CudaGpu *c = impl(g);
    const BuildCubin *cubin = cuda_cubin_for(cfg->cubins, cfg->ncubins, c->info.cc_major, c->info.cc_minor);
    if (cubin && !cfg->nextra) return load_cubin(g, cubin);
    if (cfg->nextra >= GPU_CUDA_MAX_MODULES) return gpu_fail(g, "%d programs of kernels: at most %d", cfg->nextra + 1, GPU_CUDA_MAX_MODULES);
    if (!cfg->kernels_source) {
        char have[128] = "";
        for (int i = 0, k = 0; i < cfg->ncubins; i++)
            k += snprintf(have + k, sizeof have - (size_t)k, "%s%s", i ? ", " : "", cfg->cubins[i].arch);
        return gpu_fail(g, "the kernels were compiled ahead of time for %s, not for this GPU (%s): compile the "
                           "model again on a machine whose NVRTC knows it", cfg->ncubins ? have : "no GPU",
                        c->info.arch);
    }
    char why[1024];
    if (!nvrtc_load(why, sizeof why)) {
        snprintf(g->err, sizeof g->err, "%.500s", why);
        return -1;
    }
    nvrtc_version(&c->info.nvrtc_major, &c->info.nvrtc_minor);
    NvrtcHeader headers[NVRTC_MAX_HEADERS];
    int nheaders = nvrtc_template_headers(headers, NVRTC_MAX_HEADERS), njobs = 1 + cfg->nextra;
    NvrtcJob jobs[GPU_CUDA_MAX_MODULES];
    NvrtcOutput out[GPU_CUDA_MAX_MODULES];
    jobs[0] = (NvrtcJob){"kernels.cu", cfg->kernels_source, headers, nheaders, c->info.arch, false};
    for (int i = 0; i < cfg->nextra; i++)
        jobs[1 + i] = (NvrtcJob){"variants.cu", cfg->extra_sources[i], headers, nheaders, c->info.arch, false};
    nvrtc_compile_all(jobs, njobs, &(NvrtcConfig){njobs > 1 ? nvrtc_workers_here() : 1, cfg->cache_dir}, out);
    c->info.module_cached = out[0].cached;
    c->info.compile_seconds = out[0].seconds;
    int rc = 0;
    for (int i = 0; i < njobs; i++) {
        if (rc == 0 && !out[i].ok) {
            snprintf(g->err, sizeof g->err, "%.200s\n%.300s", out[i].error, tail(out[i].log, 300));
            rc = -1;
        } else if (rc == 0) {
            CUresult r = c->d->ModuleLoadData(&c->modules[i], out[i].cubin);
            if (r != CUDA_SUCCESS) rc = cu_fail(g, r, "cuModuleLoadData");
            else c->nmodules = i + 1;
        }
        nvrtc_output_free(&out[i]);
    }
    return rc;
}

int gpu_cuda_open(Gpu *g, const GpuCudaConfig *cfg, char *err, size_t errcap) {
    memset(g, 0, sizeof *g);
    char why[700];
    int n = cuda_device_count(why, sizeof why);
    if (n == 0) {
        snprintf(err, errcap, "%s", why);
        return -1;
    }
    if (cfg->device < 0 || cfg->device >= n) {
        snprintf(err, errcap, "device %d: this machine has %d (0 to %d)", cfg->device, n, n - 1);
        return -1;
    }
    CudaGpu *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errcap, "out of host memory");
        return -1;
    }
    *g = (Gpu){.name = "cuda", .impl = c,
               .alloc = cuda_alloc, .free = cuda_free,
               .copy_to_device = cuda_copy_to_device, .copy_to_host = cuda_copy_to_host,
               .copy_device = cuda_copy_device, .memset_zero = cuda_memset_zero,
               .launch = cuda_launch, .gemm = cuda_gemm, .sync = cuda_sync,
               .elapsed_ms = cuda_elapsed_ms, .set_timing = cuda_set_timing, .timed = cuda_timed,
               .gemm_algos = cuda_gemm_algos, .gemm_use = cuda_gemm_use,
               .close = cuda_close};
    c->d = cuda_drv(NULL, 0);
    int rc = device_info(g, cfg->device);
    if (rc == 0) rc = context_and_stream(g);
    if (rc == 0 && (cfg->kernels_source || cfg->ncubins)) rc = load_module(g, cfg);
    if (rc == 0) {
        CUresult r = c->d->EventRecord(c->mark[0], c->stream);
        if (r != CUDA_SUCCESS) rc = cu_fail(g, r, "cuEventRecord");
    }
    if (rc != 0) {
        snprintf(err, errcap, "%s", g->err);
        cuda_close(g);
        return -1;
    }
    return 0;
}

int gpu_cuda_info(const Gpu *g, GpuCudaInfo *info) {
    if (!g || !g->impl || !g->name || strcmp(g->name, "cuda")) return -1;
    *info = ((const CudaGpu *)g->impl)->info;
    return 0;
}

int gpu_cuda_handles(const Gpu *g, struct CUctx_st **ctx, struct CUstream_st **stream) {
    if (!g || !g->impl || !g->name || strcmp(g->name, "cuda")) return -1;
    const CudaGpu *c = g->impl;
    *ctx = c->ctx;
    *stream = c->stream;
    return 0;
}

void gpu_cuda_stats(const Gpu *g, size_t *now, size_t *peak) {
    const CudaGpu *c = g->impl;
    *now = c ? c->bytes_now : 0;
    *peak = c ? c->bytes_peak : 0;
}
