/*
 * gpu_sim.c: the `sim` implementation of runtime/gpu.h. Device memory is
 * host memory; a launch calls the kernel's gptc_sim_NAME entry (the
 * generated kernels_sim.cc, compiled for the CPU with the emulation
 * header), found with dlsym in the handle given at open; GEMMs go through
 * CBLAS.
 *
 * GEMM numerics follow the GPU's contract rather than CBLAS's defaults:
 * bf16 operands are widened to fp32 exactly, products accumulate in fp32
 * (sgemm), and a bf16 result is rounded to nearest even once, after beta's
 * addition, as cuBLASLt does with an fp32 compute type.
 */
#include "runtime/device/sim/gpu_sim.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/util/bf16.h"
#include "runtime/device/sim/sim.h"

#define SIM_MAX_GEMM_ALGOS 256

typedef struct {
    void *handle;
    GptcSimOptions opt;
    const char *(*last_error)(void);
    float *wa, *wb, *wc; /* fp32 staging for bf16 operands */
    size_t na, nb, nc;
    bool timing;
    GpuTimeLog log;
    float *ws; /* split-K: the parts' sum */
    size_t ns;
    int nalgos; /* gemm_use's choices, by shape */
    struct {
        char key[64];
        GpuGemmAlgo a;
    } algos[SIM_MAX_GEMM_ALGOS];
} SimImpl;

/* sim's GEMM algorithms: CBLAS's sgemm (the default), or the k sum in
 * `splitk` interleaved parts (split_k): another order of the sum, as a
 * GPU's split-K algorithms have. */
#define SIM_ALGO_SPLITK 1

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* Starts timing a call named `name` when timing is on: its entry, or NULL. */
static GpuTimed *time_start(Gpu *g, const char *name, double *t0) {
    SimImpl *s = g->impl;
    if (!s->timing) return NULL;
    GpuTimed *t = gpu_time_log_add(&s->log, name);
    *t0 = now_ms();
    return t;
}

static int time_end(Gpu *g, GpuTimed *t, double t0, int rc) {
    if (t) t->ms = now_ms() - t0;
    else if (((SimImpl *)g->impl)->timing && !rc) return gpu_fail(g, "sim: out of memory timing a launch");
    return rc;
}

static void *sim_alloc(Gpu *g, size_t bytes) {
    size_t n = (bytes + 255) / 256 * 256;
    void *p = aligned_alloc(256, n ? n : 256);
    if (!p) {
        gpu_fail(g, "sim: out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, n ? n : 256);
    return p;
}

static void sim_free(Gpu *g, void *p) {
    (void)g;
    free(p);
}

static int sim_copy(Gpu *g, void *dst, const void *src, size_t bytes) {
    (void)g;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int sim_zero(Gpu *g, void *p, size_t bytes) {
    (void)g;
    if (bytes) memset(p, 0, bytes);
    return 0;
}

static int sim_launch_now(Gpu *g, const char *name, const GpuLaunch *l, void **args) {
    SimImpl *s = g->impl;
    char sym[160];
    snprintf(sym, sizeof sym, "gptc_sim_%s", name);
    void *addr = dlsym(s->handle, sym);
    if (!addr) return gpu_fail(g, "sim: kernel %s is not in the loaded kernels", name);
    GptcSimKernelFn fn;
    memcpy(&fn, &addr, sizeof fn);
    GptcSimLaunch sl = {{l->grid[0], l->grid[1], l->grid[2]},
                        {l->block[0], l->block[1], l->block[2]},
                        l->smem_bytes,
                        s->opt};
    if (fn(&sl, args) != GPTC_SIM_OK) return gpu_fail(g, "%s", s->last_error());
    return 0;
}

/* A staging buffer of at least n floats. */
static float *stage(float **buf, size_t *cap, size_t n) {
    if (*cap < n) {
        free(*buf);
        *buf = malloc(n * sizeof(float));
        *cap = *buf ? n : 0;
    }
    return *buf;
}

/* Rows x cols of a row-major matrix with leading dimension ld, as fp32
 * with leading dimension cols (bf16 widened; fp32 copied). */
static void widen(float *out, const void *in, GpuDtype t, long long rows, long long cols, long long ld) {
    for (long long r = 0; r < rows; r++) {
        if (t == GPU_F32) {
            memcpy(out + r * cols, (const float *)in + r * ld, sizeof(float) * (size_t)cols);
            continue;
        }
        const uint16_t *src = (const uint16_t *)in + r * ld;
        for (long long c = 0; c < cols; c++) out[r * cols + c] = bf16_to_f32(src[c]);
    }
}

static int sim_launch(Gpu *g, const char *name, const GpuLaunch *l, void **args) {
    double t0 = 0;
    GpuTimed *t = time_start(g, name, &t0);
    return time_end(g, t, t0, sim_launch_now(g, name, l, args));
}

/* The algorithm gemm_use set for mm's shape; NULL: the default. */
static const GpuGemmAlgo *algo_for(const SimImpl *s, const GpuGemm *mm) {
    char key[64];
    gpu_gemm_key(mm, key, sizeof key);
    if (!s->nalgos) return NULL;
    for (int i = 0; i < s->nalgos; i++)
        if (!strcmp(s->algos[i].key, key)) return &s->algos[i].a;
    return NULL;
}

/* c = alpha a b + beta c (fp32, row-major, c's leading dimension n), the
 * k sum in `parts` interleaved parts (part p: every k = p mod parts), each
 * summed in fp32, then added in order: an order that no blocking of
 * CBLAS's k loop gives, as a GPU's split-K reduction is an order of its
 * own. A plain loop: sim's GEMMs are small. */
static int split_k(SimImpl *s, const GpuGemm *mm, int parts, const float *a, int ac, const float *b, float *c) {
    float *sum = stage(&s->ws, &s->ns, (size_t)mm->m * mm->n);
    if (!sum) return -1;
    int bc = mm->trans_b ? mm->k : mm->n;
    for (int i = 0; i < mm->m; i++)
        for (int j = 0; j < mm->n; j++) {
            float total = 0;
            for (int p = 0; p < parts; p++) {
                float part = 0;
                for (int k = p; k < mm->k; k += parts) {
                    float x = mm->trans_a ? a[(size_t)k * ac + i] : a[(size_t)i * ac + k];
                    float y = mm->trans_b ? b[(size_t)j * bc + k] : b[(size_t)k * bc + j];
                    part += x * y;
                }
                total += part;
            }
            sum[(size_t)i * mm->n + j] = total;
        }
    for (size_t i = 0; i < (size_t)mm->m * mm->n; i++) c[i] = mm->alpha * sum[i] + (mm->beta != 0 ? mm->beta * c[i] : 0.0f);
    return 0;
}

static int sim_gemm_now(Gpu *g, const GpuGemm *mm) {
    SimImpl *s = g->impl;
    char why[256];
    gpu_gemm_check(mm, why, sizeof why);
    if (why[0]) return gpu_fail(g, "sim: gemm: %s", why);
    long long ar = mm->trans_a ? mm->k : mm->m, ac = mm->trans_a ? mm->m : mm->k;
    long long br = mm->trans_b ? mm->n : mm->k, bc = mm->trans_b ? mm->k : mm->n;
    size_t elem_ab = mm->a_type == GPU_BF16 ? 2 : 4, elem_c = mm->c_type == GPU_BF16 ? 2 : 4;
    float *a = stage(&s->wa, &s->na, (size_t)(ar * ac)), *b = stage(&s->wb, &s->nb, (size_t)(br * bc));
    float *c = stage(&s->wc, &s->nc, (size_t)mm->m * mm->n);
    if (!a || !b || !c) return gpu_fail(g, "sim: out of memory in gemm");
    const GpuGemmAlgo *algo = algo_for(s, mm);
    for (int i = 0; i < mm->batch; i++) {
        const char *pa = (const char *)mm->a + (size_t)(i * mm->stride_a) * elem_ab;
        const char *pb = (const char *)mm->b + (size_t)(i * mm->stride_b) * elem_ab;
        char *pc = (char *)mm->c + (size_t)(i * mm->stride_c) * elem_c;
        const char *pc_in = mm->c_in ? (const char *)mm->c_in + (size_t)(i * mm->stride_c) * elem_c : pc;
        widen(a, pa, mm->a_type, ar, ac, mm->lda);
        widen(b, pb, mm->b_type, br, bc, mm->ldb);
        if (mm->beta != 0) widen(c, pc_in, mm->c_type, mm->m, mm->n, mm->ldc);
        if (algo && algo->splitk > 1) {
            if (split_k(s, mm, algo->splitk, a, (int)ac, b, c)) return gpu_fail(g, "sim: out of memory in gemm");
        } else {
            cblas_sgemm(CblasRowMajor, mm->trans_a ? CblasTrans : CblasNoTrans, mm->trans_b ? CblasTrans : CblasNoTrans,
                        mm->m, mm->n, mm->k, mm->alpha, a, (int)ac, b, (int)bc, mm->beta, c, mm->n);
        }
        for (long long r = 0; r < mm->m; r++) {
            if (mm->c_type == GPU_F32) {
                memcpy((float *)pc + r * mm->ldc, c + r * mm->n, sizeof(float) * (size_t)mm->n);
                continue;
            }
            uint16_t *dst = (uint16_t *)pc + r * mm->ldc;
            for (long long j = 0; j < mm->n; j++) dst[j] = f32_to_bf16(c[r * mm->n + j]);
        }
    }
    return 0;
}

static int sim_gemm(Gpu *g, const GpuGemm *mm) {
    double t0 = 0;
    char name[GPU_TIMED_NAME];
    gpu_gemm_timed_name(mm, name);
    GpuTimed *t = time_start(g, name, &t0);
    return time_end(g, t, t0, sim_gemm_now(g, mm));
}

static int sim_gemm_algos(Gpu *g, const GpuGemm *mm, GpuGemmAlgo *out, int max) {
    (void)g;
    int n = 0;
    for (int parts = 2; parts <= 4 && n < max; parts *= 2)
        if (mm->k >= 2 * parts) out[n++] = (GpuGemmAlgo){.id = SIM_ALGO_SPLITK, .splitk = parts};
    return n;
}

static int sim_gemm_use(Gpu *g, const char *key, const GpuGemmAlgo *a) {
    SimImpl *s = g->impl;
    if (!key) return s->nalgos = 0, 0;
    int i = 0;
    while (i < s->nalgos && strcmp(s->algos[i].key, key)) i++;
    if (!a) {
        if (i < s->nalgos) s->algos[i] = s->algos[--s->nalgos];
        return 0;
    }
    if (a->id != SIM_ALGO_SPLITK || a->splitk < 2)
        return gpu_fail(g, "sim: GEMM %s: no algorithm %d with split-K %d here (sim has CBLAS and split-K)", key, a->id,
                        a->splitk);
    if (i == s->nalgos && s->nalgos == SIM_MAX_GEMM_ALGOS) return gpu_fail(g, "sim: more than %d GEMM shapes", i);
    if (i == s->nalgos) s->nalgos++;
    snprintf(s->algos[i].key, sizeof s->algos[i].key, "%s", key);
    s->algos[i].a = *a;
    return 0;
}

/* Nothing to wipe: the host's caches are not what a GPU kernel would see. */
static int sim_set_timing(Gpu *g, bool on, size_t wipe_bytes) {
    SimImpl *s = g->impl;
    (void)wipe_bytes;
    s->timing = on;
    s->log.n = 0;
    return 0;
}

static int sim_timed(Gpu *g, const GpuTimed **out, int *n) {
    SimImpl *s = g->impl;
    *out = s->log.v, *n = s->log.n;
    s->log.n = 0;
    return 0;
}

static int sim_sync(Gpu *g) {
    (void)g;
    return 0;
}

static double sim_elapsed(Gpu *g) {
    (void)g;
    return 0;
}

static void sim_close(Gpu *g) {
    SimImpl *s = g->impl;
    if (!s) return;
    free(s->wa);
    free(s->wb);
    free(s->wc);
    gpu_time_log_free(&s->log);
    free(s->ws);
    free(s);
    g->impl = NULL;
}

int gpu_sim_open(Gpu *g, void *handle) {
    memset(g, 0, sizeof *g);
    g->name = "sim";
    SimImpl *s = calloc(1, sizeof *s);
    if (!s) return gpu_fail(g, "sim: out of memory");
    s->handle = handle ? handle : RTLD_DEFAULT;
    void *le = dlsym(s->handle, "gptc_sim_last_error"), *oe = dlsym(s->handle, "gptc_sim_options_from_env");
    if (!le || !oe) {
        free(s);
        return gpu_fail(g, "sim: the emulator (gptc_sim_last_error) is not in the loaded kernels");
    }
    memcpy(&s->last_error, &le, sizeof le);
    int (*from_env)(GptcSimOptions *);
    memcpy(&from_env, &oe, sizeof oe);
    if (from_env(&s->opt) != 0) {
        snprintf(g->err, sizeof g->err, "%s", s->last_error());
        free(s);
        return -1;
    }
    g->impl = s;
    g->alloc = sim_alloc;
    g->free = sim_free;
    g->copy_to_device = sim_copy;
    g->copy_to_host = sim_copy;
    g->copy_device = sim_copy;
    g->memset_zero = sim_zero;
    g->launch = sim_launch;
    g->gemm = sim_gemm;
    g->sync = sim_sync;
    g->elapsed_ms = sim_elapsed;
    g->set_timing = sim_set_timing;
    g->gemm_algos = sim_gemm_algos;
    g->gemm_use = sim_gemm_use;
    g->timed = sim_timed;
    g->close = sim_close;
    return 0;
}
