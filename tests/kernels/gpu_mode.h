/*
 * gpu_mode.h: the GPU mode of test_kernels.c, part of its translation unit
 * (included there when built with -DGPTC_KERNELS_GPU, linked with
 * build/libgptc.a; tests/run-kernels.sh --gpu builds it). Never linked with
 * -lcuda: the driver is dlopen'ed by runtime/cuda/, so the program starts
 * on any machine, and without a GPU prints "skipped: no GPU: <why>" and
 * exits 0 (a skip, never counted as passed).
 *
 * With a GPU, every case of every kernel also runs on the device through
 * the cuda Gpu (runtime/device/cuda/gpu_cuda.h): the model's kernels.cu (checked
 * against kernels.h's SHA-256) compiled by NVRTC for the device, each buffer
 * copied to device memory with its guard bytes around it, the kernel (and
 * a two-stage reduction's second stage) launched with kernels.h's rule, as on
 * sim, and everything copied back. The result must match the ref code
 * within the kind's tolerance, exactly as sim's must, with the guards
 * intact and the inputs unchanged; its worst difference from sim in ulps
 * is reported per kernel (0 expected wherever the kernel uses no libm
 * function: both sides are built without FMA contraction). A kind's
 * pointer arguments must be its Case's ptr slots (buffers or NULL), which
 * are pointed at the device copies for the launch.
 *
 * `test_kernels --gemm` checks Gpu.gemm instead: random bf16 (and fp32)
 * matrices, every transpose combination, batched and not, beta 0 and 1,
 * bf16 and fp32 C, against CBLAS's sgemm on the same values. Both
 * accumulate k products (and beta C) in fp32, each within (k + 1) u S of
 * the exact sum (S = sum |a b| + |beta c|, u = 2^-24), so they may differ
 * by 2 (k + 1) u S, plus one unit in the last place of C's dtype for the
 * two final roundings; the elements of C outside the m x n matrices
 * (leading-dimension and batch padding) must come back unchanged. It also
 * times one large bf16 GEMM (printed, not checked).
 */
#include <cblas.h>

#include "runtime/device/cuda/gpu_cuda.h"
#include "compiler/util/fsutil.h"
#include "compiler/util/sha256.h"

static Gpu gpu;

/* A launch on the GPU; GPTC_SIM_OK or GPTC_SIM_ERR_CONFIG with gpu.err. */
static int gpu_launch(const GptcKernel *k, const GptcSimLaunch *l, void **args) {
    GpuLaunch gl = {{l->grid.x, l->grid.y, l->grid.z}, {l->block.x, l->block.y, l->block.z}, l->smem_bytes};
    return gpu.launch(&gpu, k->name, &gl, args) == 0 ? GPTC_SIM_OK : GPTC_SIM_ERR_CONFIG;
}

typedef struct {
    Stats ref;          /* against the ref code, as sim's */
    long long sim_ulps; /* the worst difference from sim */
    const char *sim_buf;
} GpuStats;

static size_t span_of(const Buf *b) { return LEAD + b->n * dtype_size(b->dtype) + TRAIL; }

/* Copies c's buffers (with their guards) to the device, points c's pointer
 * slots there, launches, copies back and restores the slots. */
static int gpu_run(const GptcKernel *k, const Kind *kind, Case *c, const Shape *s, char *why, size_t cap) {
    void *dmem[MAX_BUFS] = {0}, *host[MAX_BUFS + 1], *maybe[2];
    memcpy(host, c->ptr, sizeof host);
    memcpy(maybe, c->maybe, sizeof maybe);
    int rc = 0;
    for (int i = 0; i < c->nbufs && rc == 0; i++)
        if (!(dmem[i] = gpu.alloc(&gpu, span_of(&c->b[i]))) ||
            gpu.copy_to_device(&gpu, dmem[i], c->b[i].mem, span_of(&c->b[i])))
            rc = -1, snprintf(why, cap, "%s", gpu.err);
    for (int j = 0; j <= MAX_BUFS && rc == 0; j++) {
        bool found = host[j] == NULL;
        for (int i = 0; i < c->nbufs && !found; i++)
            if (host[j] == c->b[i].p) c->ptr[j] = (unsigned char *)dmem[i] + LEAD, found = true;
        if (!found) rc = -1, snprintf(why, cap, "pointer slot %d is not a buffer of the case", j);
    }
    /* The optional pointers (NULL or one of the buffers) likewise. */
    for (int j = 0; j < 2 && rc == 0; j++)
        for (int i = 0; i < c->nbufs && maybe[j]; i++)
            if (maybe[j] == c->b[i].p) c->maybe[j] = (unsigned char *)dmem[i] + LEAD;
    if (rc == 0 && ((kind->first && kind->first(c, k, s, &on_gpu) != GPTC_SIM_OK) ||
                    launch(k, c, s, &on_gpu) != GPTC_SIM_OK || (kind->then && kind->then(c, k, s, &on_gpu) != GPTC_SIM_OK)))
        rc = -1, snprintf(why, cap, "%s", gpu.err);
    for (int i = 0; i < c->nbufs && rc == 0; i++)
        if (gpu.copy_to_host(&gpu, c->b[i].mem, dmem[i], span_of(&c->b[i])))
            rc = -1, snprintf(why, cap, "%s", gpu.err);
    memcpy(c->ptr, host, sizeof host);
    memcpy(c->maybe, maybe, sizeof maybe);
    for (int i = 0; i < c->nbufs; i++) gpu.free(&gpu, dmem[i]);
    return rc;
}

/* One case on the GPU, against the ref code's result (want) and sim's (got). */
static void gpu_case(const GptcKernel *k, const Kind *kind, const Shape *s, const char *shape,
                     uint64_t case_seed, const Case *got, const Case *want, GpuStats *gs) {
    Case dev = {0};
    Rng r = {case_seed};
    char why[600];
    kind->setup(&dev, k, s, &r);
    if (gpu_run(k, kind, &dev, s, why, sizeof why)) {
        note_failure(&gs->ref, "%s: on the GPU: %s", shape, why);
    } else {
        transcendental_slack = !strncmp(kind->prefix, "attn_", 5) ? 128 : 0;
        compare(&dev, want, kind, shape, &gs->ref);
        transcendental_slack = 0;
        gs->ref.cases++;
        for (int bi = 0; bi < dev.nbufs; bi++) {
            const Buf *d = &dev.b[bi], *g = &got->b[bi];
            int width = d->dtype == BF16 ? 16 : 32;
            for (size_t i = 0; d->output && i < d->n; i++) {
                float a = buf_get(d, i), b = buf_get(g, i);
                long long u = isnan(a) || isnan(b) ? (isnan(a) && isnan(b) ? 0 : LLONG_MAX)
                                                   : llabs(ordered(raw(d, i), width) - ordered(raw(g, i), width));
                if (u > gs->sim_ulps) gs->sim_ulps = u, gs->sim_buf = d->name;
            }
        }
    }
    case_free(&dev);
}

static void gpu_report(const char *model, const GptcKernel *k, const Kind *kind, const GpuStats *gs) {
    char line[1400];
    const Stats *st = &gs->ref;
    if (st->failed) {
        snprintf(line, sizeof line, "gpu vs ref: %s", st->first);
    } else {
        int at = snprintf(line, sizeof line, "gpu vs ref: %d cases, worst", st->cases);
        for (int i = 0; i < st->nworst && at < (int)sizeof line; i++)
            at += snprintf(line + at, sizeof line - (size_t)at, "%s %s %lld %s ulp (|err| %.3g)", i ? ";" : "",
                           st->worst[i].name, st->worst[i].ulps, dtype_name(st->worst[i].dtype), st->worst[i].abs);
        if (at < (int)sizeof line)
            snprintf(line + at, sizeof line - (size_t)at, "; tolerance %d ulp; gpu vs sim: worst %lld ulp%s%s",
                     kind->tol_ulps, gs->sim_ulps, gs->sim_buf ? " in " : "", gs->sim_buf ? gs->sim_buf : "");
    }
    result(!st->failed, model, k->name, line);
}

/* ---- Gpu.gemm against CBLAS ---- */

typedef struct {
    int m, n, k, batch;
} GemmShape;

/* Tails in every dimension (33 x 17 x 45), a deep sum (k 200), batches. */
static const GemmShape gemm_shapes[] = {{128, 96, 64, 1}, {72, 40, 200, 3}, {33, 17, 45, 1}, {192, 128, 256, 2}};

typedef struct {
    GpuDtype ab, c;
    float beta;
    bool c_in; /* C (random, another matrix than D's old content) apart from D */
} GemmTypes;

static double dtype_ulp(GpuDtype t, double v) { return t == GPU_BF16 ? bf16_ulp(v) : f32_ulp(v); }

static size_t gpu_dtype_size(GpuDtype t) { return t == GPU_BF16 ? 2 : 4; }

/* n random values of dtype t in [-2, 2] at p (as bytes), and as floats. */
static void gemm_fill(void *p, float *f, size_t n, GpuDtype t, Rng *r) {
    for (size_t i = 0; i < n; i++) {
        float v = (float)(4 * rng_unit(r) - 2);
        if (t == GPU_BF16) {
            uint16_t b = float_to_bf16(v);
            ((uint16_t *)p)[i] = b, f[i] = bf16_to_float(b);
        } else {
            ((float *)p)[i] = f[i] = v;
        }
    }
}

typedef struct {
    double worst_abs, worst_frac;
    int cases;
    long rounded_first; /* elements that match only a product rounded to bf16 before the add */
    bool failed;
    char first[800];
} GemmStats;

/* One GEMM: build, run on the GPU, run on CBLAS, compare. */
static void gemm_case(const GemmShape *sh, const GemmTypes *ty, int ta, int tb, Rng *r, GemmStats *gs) {
    int m = sh->m, n = sh->n, k = sh->k, B = sh->batch;
    long long lda = (ta ? m : k) + 8, ldb = (tb ? k : n) + 8, ldc = n + 8;
    long long rows_a = ta ? k : m, rows_b = tb ? n : k;
    long long sa = B > 1 ? rows_a * lda + 64 : 0, sb = B > 1 ? rows_b * ldb + 64 : 0, sc = B > 1 ? m * ldc + 64 : 0;
    size_t na = (size_t)(B > 1 ? sa * B : rows_a * lda), nb = (size_t)(B > 1 ? sb * B : rows_b * ldb);
    size_t nc = (size_t)(B > 1 ? sc * B : m * ldc);
    size_t ea = gpu_dtype_size(ty->ab), ec = gpu_dtype_size(ty->c);
    void *ha = xmalloc(na * ea), *hb = xmalloc(nb * ea), *hc = xmalloc(nc * ec), *hout = xmalloc(nc * ec);
    void *hd = xmalloc(nc * ec);
    float *fa = xmalloc(na * 4), *fb = xmalloc(nb * 4), *fc = xmalloc(nc * 4), *fd = xmalloc(nc * 4);
    gemm_fill(ha, fa, na, ty->ab, r);
    gemm_fill(hb, fb, nb, ty->ab, r);
    gemm_fill(hc, fc, nc, ty->c, r);
    gemm_fill(hd, fd, nc, ty->c, r);
    /* D's old content: C itself, or another matrix when C comes apart. */
    const void *hold = ty->c_in ? hd : hc;
    void *da = gpu.alloc(&gpu, na * ea), *db = gpu.alloc(&gpu, nb * ea), *dc = gpu.alloc(&gpu, nc * ec);
    void *din = ty->c_in ? gpu.alloc(&gpu, nc * ec) : NULL;
    float alpha = ty->beta != 0 ? 0.5f : 1.0f;
    GpuGemm mm = {m, n, k, B, ta, tb, ty->ab, ty->ab, ty->c, da, db, dc, lda, ldb, ldc, sa, sb, sc, alpha, ty->beta, din};
    char label[160];
    snprintf(label, sizeof label, "m %d n %d k %d batch %d%s%s", m, n, k, B, ta ? " trans_a" : "", tb ? " trans_b" : "");
    if (!da || !db || !dc || (ty->c_in && (!din || gpu.copy_to_device(&gpu, din, hc, nc * ec))) ||
        gpu.copy_to_device(&gpu, da, ha, na * ea) || gpu.copy_to_device(&gpu, db, hb, nb * ea) ||
        gpu.copy_to_device(&gpu, dc, hold, nc * ec) || gpu.gemm(&gpu, &mm) || gpu.copy_to_host(&gpu, hout, dc, nc * ec)) {
        if (!gs->failed) snprintf(gs->first, sizeof gs->first, "%.150s: %.500s", label, gpu.err);
        gs->failed = true;
    } else {
        float *want = xmalloc(nc * 4), *prod = xmalloc(nc * 4);
        memcpy(want, fc, nc * 4);
        for (int bi = 0; bi < B; bi++) {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                        fa + bi * sa, (int)lda, fb + bi * sb, (int)ldb, ty->beta, want + bi * sc, (int)ldc);
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                        fa + bi * sa, (int)lda, fb + bi * sb, (int)ldb, 0.0f, prod + bi * sc, (int)ldc);
        }
        for (size_t i = 0; i < nc; i++) {
            long long bi = sc ? (long long)i / sc : 0, off = (long long)i - bi * sc, row = off / ldc, col = off % ldc;
            float got = ty->c == GPU_BF16 ? bf16_to_float(((uint16_t *)hout)[i]) : ((float *)hout)[i];
            bool inside = bi < B && row < m && col < n;
            if (!inside) {
                if (memcmp((char *)hout + i * ec, (const char *)hold + i * ec, ec) && !gs->failed) {
                    snprintf(gs->first, sizeof gs->first, "%s: C[%zu] outside the matrix changed", label, i);
                    gs->failed = true;
                }
                continue;
            }
            double S = ty->beta != 0 ? fabs(fc[i]) : 0;
            for (int p = 0; p < k; p++) {
                float av = ta ? fa[bi * sa + p * lda + row] : fa[bi * sa + row * lda + p];
                float bv = tb ? fb[bi * sb + col * ldb + p] : fb[bi * sb + p * ldb + col];
                S += fabs((double)av * bv) * alpha;
            }
            float w = ty->c == GPU_BF16 ? bf16_to_float(float_to_bf16(want[i])) : want[i];
            double e = fabs((double)got - w), bound = 2.0 * (k + 1) * U32 * S;
            double allowed = bound + dtype_ulp(ty->c, fmax(fabs(got), fabs(w)));
            /* gpu.h: with a bf16 C and beta 1, the product may be rounded
             * to bf16 before C is added (x + bf16(x W^T)). */
            if (!(e <= allowed) && ty->c == GPU_BF16 && ty->beta != 0) {
                float w2 = bf16_to_float(float_to_bf16(bf16_to_float(float_to_bf16(prod[i])) + fc[i]));
                double e2 = fabs((double)got - w2);
                if (e2 <= bound + bf16_ulp(fmax(fabs(got), fabs(w2)))) e = e2, w = w2, gs->rounded_first++;
            }
            if (e > gs->worst_abs) gs->worst_abs = e;
            if (bound > 0 && e / allowed > gs->worst_frac) gs->worst_frac = e / allowed;
            if (!(e <= allowed) && !gs->failed) {
                snprintf(gs->first, sizeof gs->first, "%s: C[%lld][%lld][%lld] = %.9g, CBLAS gives %.9g (allowed %.3g)",
                         label, bi, row, col, got, w, allowed);
                gs->failed = true;
            }
        }
        free(want);
        free(prod);
        gs->cases++;
    }
    gpu.free(&gpu, da), gpu.free(&gpu, db), gpu.free(&gpu, dc);
    if (din) gpu.free(&gpu, din);
    free(ha), free(hb), free(hc), free(hd), free(hout), free(fa), free(fb), free(fc), free(fd);
}

/* One large bf16 GEMM, timed: the rate cuBLASLt gives at a model's sizes. */
static void gemm_timing(void) {
    int m = 65536, n = 1024, k = 4096, reps = 10;
    void *a = gpu.alloc(&gpu, (size_t)m * k * 2), *b = gpu.alloc(&gpu, (size_t)k * n * 2), *c = gpu.alloc(&gpu, (size_t)m * n * 2);
    GpuGemm mm = {m, n, k, 1, 0, 1, GPU_BF16, GPU_BF16, GPU_BF16, a, b, c, k, k, n, 0, 0, 0, 1.0f, 0.0f, NULL};
    double ms = -1;
    if (a && b && c && gpu.gemm(&gpu, &mm) == 0 && gpu.elapsed_ms(&gpu) >= 0) {
        int ok = 1;
        for (int i = 0; i < reps && ok; i++) ok = gpu.gemm(&gpu, &mm) == 0;
        ms = ok ? gpu.elapsed_ms(&gpu) / reps : -1;
    }
    if (ms > 0) printf("info gemm timing: bf16 %d x %d x %d (B transposed): %.3f ms, %.1f TFLOP/s\n", m, n, k, ms,
                       2.0 * m * n * k / ms / 1e9);
    else printf("info gemm timing: failed: %s\n", gpu.err);
    gpu.free(&gpu, a), gpu.free(&gpu, b), gpu.free(&gpu, c);
}

static int gemm_check(void) {
    static const GemmTypes types[] = {{GPU_BF16, GPU_BF16, 0, false}, {GPU_BF16, GPU_BF16, 1, false},
                                      {GPU_BF16, GPU_F32, 0, false},  {GPU_BF16, GPU_F32, 1, false},
                                      {GPU_F32, GPU_F32, 0, false},   {GPU_F32, GPU_F32, 1, false},
                                      {GPU_BF16, GPU_BF16, 1, true}};
    Rng r = {20240520};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        GemmStats gs = {0};
        for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) gemm_case(&gemm_shapes[s], &types[t], ta, tb, &r, &gs);
        char what[200], line[1000];
        snprintf(what, sizeof what, "%s x %s -> %s, beta %g%s", types[t].ab == GPU_BF16 ? "bf16" : "fp32",
                 types[t].ab == GPU_BF16 ? "bf16" : "fp32", types[t].c == GPU_BF16 ? "bf16" : "fp32",
                 (double)types[t].beta, types[t].c_in ? ", C apart from D" : "");
        if (gs.failed) snprintf(line, sizeof line, "vs CBLAS: %s", gs.first);
        else snprintf(line, sizeof line, "vs CBLAS: %d GEMMs (every transpose, batched), worst |err| %.3g, %.2f of the "
                      "2 (k + 1) u S + 1 ulp bound%s", gs.cases, gs.worst_abs, gs.worst_frac,
                      gs.rounded_first ? "" : "; every element as one rounding at the end");
        if (!gs.failed && gs.rounded_first)
            snprintf(line + strlen(line), sizeof line - strlen(line),
                     "; %ld elements only as the product rounded to bf16 before C is added", gs.rounded_first);
        result(!gs.failed, "gemm", what, line);
    }
    gemm_timing();
    printf("gemm: %d checks passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* ---- starting ---- */

/* Opens the GPU with this model's kernels.cu (GPTC_KERNELS_CU, beside
 * kernels.h, whose hash it must have). Returns -1 to go on testing, else the
 * exit status: 0 after "skipped: no GPU", 1 when the GPU cannot be used,
 * or the GEMM check's with --gemm. */
static int gpu_mode_start(int argc, char **argv) {
    char why[1024];
    if (cuda_device_count(why, sizeof why) == 0) {
        printf("skipped: %s: GPU mode (%s)\n", argc > 1 ? argv[1] : "test_kernels", why);
        return 0;
    }
    bool gemm = argc > 1 && !strcmp(argv[1], "--gemm");
    size_t len = 0;
    char *src = gemm ? NULL : fs_read(GPTC_KERNELS_CU, &len);
    if (!gemm && !src) {
        printf("FAIL %s: cannot read %s\n", argv[1], GPTC_KERNELS_CU);
        return 1;
    }
    if (src) {
        Sha256 h;
        char hex[65];
        sha256_init(&h);
        sha256_update(&h, src, len);
        sha256_hex(&h, hex);
        if (strcmp(hex, GPTC_KERNELS_SOURCE_SHA256)) {
            printf("FAIL %s: %s is not the kernels.cu kernels.h was generated with\n", argv[1], GPTC_KERNELS_CU);
            free(src);
            return 1;
        }
    }
    GpuCudaConfig cfg = {.device = 0, .kernels_source = src};
    int rc = gpu_cuda_open(&gpu, &cfg, why, sizeof why);
    free(src);
    if (rc) {
        printf("FAIL %s: opening the GPU: %s\n", argc > 1 ? argv[1] : "?", why);
        return 1;
    }
    GpuCudaInfo in;
    gpu_cuda_info(&gpu, &in);
    printf("info %s on %s (sm_%d%d, %d SMs, driver %d, NVRTC %d.%d%s, cuBLASLt %zu)\n", gemm ? "gemm" : argv[1],
           in.name, in.cc_major, in.cc_minor, in.sms, in.driver_version, in.nvrtc_major, in.nvrtc_minor,
           gemm ? "" : in.module_cached ? ", module from the cache" : ", module compiled", in.cublaslt_version);
    if (gemm) {
        int g = gemm_check();
        gpu.close(&gpu);
        return g;
    }
    return -1;
}
