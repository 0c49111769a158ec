/*
 * test_optim_gpu.c: the GPU executors' optimizer step (runtime/device/optim_gpu.c)
 * on the sim device, against the ref executor's (runtime/ref/optim.c), and the
 * sim device's GEMM against plain double-precision loops. Built by
 * tests/run-optim-gpu.sh with tiny.yaml's generated kernels_sim.cc and the
 * emulator linked in (the kernels found by gpu_sim through dlsym).
 * Usage: test_optim_gpu MODEL.yaml. Prints one "ok ..."/"FAIL ..." line per
 * check and a closing "optim-gpu: N passed, N failed"; exits 1 on any failure.
 *
 * Checks:
 *   gemm     every combination of trans_a, trans_b, bf16/fp32 operands,
 *            bf16/fp32 C, beta 0/1, batch 3, leading dimensions wider than
 *            the matrices: each element within the fp32 accumulation bound
 *            k u sum |a b| (+ u |beta C| for the addition) plus half an ulp
 *            of C's dtype (the one rounding), and the padding between rows
 *            untouched.
 *   step     several optimizer steps over every tensor of the model
 *            (momentum warm-up, a cooldown step): Adam tensors and their
 *            moments equal ref's bit for bit, the head's bf16 copy is its
 *            master rounded; Muon momenta equal ref's bit for bit; each
 *            Muon matrix's step (its orthogonalised update, recovered from
 *            the parameter change) is within MUON_REL of ref's fp32 one in
 *            Frobenius norm; the update applied is exactly w decay - lr_eff
 *            O for the O that optim_gpu_direction gives (so the hi/lo
 *            planes hold the master bit for bit); O's singular values sit
 *            in Newton-Schulz's band and follow ref's.
 *   determinism  the same steps on a second sim device with random thread
 *            and block order and poisoned shared memory: bit-identical
 *            parameters and state.
 *   state    optim_gpu_state is laid out as optim_state (same names and
 *            counts, equal values); upload/download of parameters is exact.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/util/bf16.h"
#include "runtime/device/sim/gpu_sim.h"
#include "runtime/ref/muon.h"
#include "runtime/ref/optim.h"
#include "runtime/device/optim_gpu.h"
#include "compiler/plan/params.h"
#include "compiler/lang/validate.h"

#define U32 0x1p-24
/* Muon's bf16 Newton-Schulz against ref's fp32 one: the largest relative
 * Frobenius difference of a matrix's update allowed. Each of its 5
 * iterations rounds A, B and X to bf16 (relative 2^-9 per element) and the
 * quintic's slope reaches a ~ 4 near 0, so per-element differences of a
 * few 2^-9 compound to about 1e-2 in norm (measured: see the printed
 * worst). */
#define MUON_REL 0.05
/* Newton-Schulz's output band for the recipe's coefficients: its five
 * quintics map a singular value s of the normalised input to at most
 * 1.145, and every s >= 1/500 into [0.852, 1.145] (the scalar map,
 * evaluated on a fine grid). Smaller inputs land lower (random square
 * matrices have some), so the band's floor is asserted where ref's fp32
 * value is in the band, less SV_TOL; BAND_HI allows for bf16 noise. */
#define BAND_LO 0.85
#define BAND_HI 1.2
#define SV_TOL 0.1
#define STEPS 5

static int passed, failed;

static void result(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(bool ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) passed++;
    else failed++;
}

static void *xmalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "test_optim_gpu: out of memory\n");
        exit(2);
    }
    return p;
}

/* splitmix64: the same data on every machine. */
static uint64_t draw_s = 0x5eed;
static uint64_t draw(void) {
    uint64_t z = (draw_s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unit(void) { return (double)(draw() >> 11) * 0x1p-53; }
/* Roughly normal (sum of 4 uniforms), times scale. */
static float gauss(double scale) { return (float)((unit() + unit() + unit() + unit() - 2) * 1.7 * scale); }

static void die_gpu(Gpu *g, const char *what) {
    fprintf(stderr, "test_optim_gpu: %s: %s\n", what, g->err);
    exit(2);
}

/* ---- Gpu.gemm against double loops ---- */

/* Element (r, c) of op(M) for a matrix stored row-major with leading
 * dimension ld, transposed or not. */
static double elem(const void *m, GpuDtype t, long long ld, bool trans, long long r, long long c) {
    long long i = trans ? c * ld + r : r * ld + c;
    return t == GPU_BF16 ? bf16_to_f32(((const uint16_t *)m)[i]) : ((const float *)m)[i];
}

static void fill_matrix(void *m, GpuDtype t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = gauss(1);
        if (t == GPU_BF16) ((uint16_t *)m)[i] = f32_to_bf16(v);
        else ((float *)m)[i] = v;
    }
}

static double ulp_of(double v, GpuDtype t) {
    v = fabs(v);
    int bits = t == GPU_BF16 ? 8 : 24;
    return v < 0x1p-126 ? 0x1p-133 : ldexp(1.0, ilogb(v) - (bits - 1));
}

/* With c_in, beta scales a separate C (random, as c's old content is) and
 * the sum lands in c: c's old values must not matter, C must stay. */
static void test_gemm_case(Gpu *g, int ta, int tb, GpuDtype ab, GpuDtype ct, float beta, bool c_in) {
    const int m = 13, n = 21, k = 37, batch = 3, pad = 5;
    long long ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    long long lda = ac + pad, ldb = bc + pad, ldc = n + pad;
    long long sa = ar * lda + 7, sb = br * ldb + 3, sc = m * ldc + 9;
    size_t eab = ab == GPU_BF16 ? 2 : 4, ec = ct == GPU_BF16 ? 2 : 4;
    size_t na = (size_t)(sa * batch), nb = (size_t)(sb * batch), nc = (size_t)(sc * batch);
    void *ha = xmalloc(na * eab), *hb = xmalloc(nb * eab), *hc = xmalloc(nc * ec), *got = xmalloc(nc * ec);
    void *hin = xmalloc(nc * ec), *in_after = xmalloc(nc * ec);
    fill_matrix(ha, ab, na);
    fill_matrix(hb, ab, nb);
    fill_matrix(hc, ct, nc);
    fill_matrix(hin, ct, nc);
    void *da = g->alloc(g, na * eab), *db = g->alloc(g, nb * eab), *dc = g->alloc(g, nc * ec);
    void *din = c_in ? g->alloc(g, nc * ec) : NULL;
    if (!da || !db || !dc || (c_in && !din)) die_gpu(g, "alloc");
    g->copy_to_device(g, da, ha, na * eab);
    g->copy_to_device(g, db, hb, nb * eab);
    g->copy_to_device(g, dc, hc, nc * ec);
    if (c_in) g->copy_to_device(g, din, hin, nc * ec);
    GpuGemm mm = {m, n, k, batch, ta, tb, ab, ab, ct, da, db, dc, lda, ldb, ldc, sa, sb, sc, 1.0f, beta, din};
    bool ok = g->gemm(g, &mm) == 0 && g->copy_to_host(g, got, dc, nc * ec) == 0;
    if (ok && c_in) ok = g->copy_to_host(g, in_after, din, nc * ec) == 0 && !memcmp(hin, in_after, nc * ec);
    double worst = 0;
    for (int bi = 0; bi < batch && ok; bi++) {
        const char *pa = (const char *)ha + (size_t)(bi * sa) * eab, *pb = (const char *)hb + (size_t)(bi * sb) * eab;
        for (long long r = 0; r < m; r++)
            for (long long c = 0; c < ldc; c++) {
                size_t at = (size_t)(bi * sc + r * ldc + c);
                double old = elem(c_in ? hin : hc, ct, 0, false, 0, (long long)at);
                double now = elem(got, ct, 0, false, 0, (long long)at);
                if (c >= n) { /* the padding: untouched */
                    ok = ok && memcmp((char *)hc + at * ec, (char *)got + at * ec, ec) == 0;
                    continue;
                }
                double want = 0, S = 0;
                for (long long j = 0; j < k; j++) {
                    double p = elem(pa, ab, lda, ta, r, j) * elem(pb, ab, ldb, tb, j, c);
                    want += p, S += fabs(p);
                }
                want += beta * old;
                double bound = k * U32 * S + U32 * (fabs(beta * old) + fabs(want)) + ulp_of(fmax(fabs(want), fabs(now)), ct) / 2;
                double e = fabs(now - want);
                if (e / bound > worst) worst = e / bound;
                ok = ok && e <= bound;
            }
    }
    /* The gap after each batch's last row is not written either. */
    for (int bi = 0; bi < batch && ok; bi++)
        ok = !memcmp((char *)hc + (size_t)(bi * sc + m * ldc) * ec, (char *)got + (size_t)(bi * sc + m * ldc) * ec,
                     (size_t)(sc - m * ldc) * ec);
    result(ok, "gemm trans_a %d trans_b %d %s x %s -> %s beta %g%s batch %d, ld +%d: worst %.2f of the bound", ta,
           tb, ab == GPU_BF16 ? "bf16" : "fp32", ab == GPU_BF16 ? "bf16" : "fp32", ct == GPU_BF16 ? "bf16" : "fp32",
           (double)beta, c_in ? " (C apart from D)" : "", batch, pad, worst);
    g->free(g, da), g->free(g, db), g->free(g, dc);
    if (din) g->free(g, din);
    free(ha), free(hb), free(hc), free(got), free(hin), free(in_after);
}

/* fp32 x fp32 -> bf16 is refused, as on the GPU (cuBLASLt has no such
 * kind with fp32 compute): a plan that runs on sim must run on cuda. */
static void test_gemm_refuses_f32_to_bf16(Gpu *g) {
    float *d = g->alloc(g, 64 * sizeof(float));
    GpuGemm mm = {4, 4, 4, 1, 0, 0, GPU_F32, GPU_F32, GPU_BF16, d, d, d, 4, 4, 4, 0, 0, 0, 1.0f, 0.0f, NULL};
    bool refused = g->gemm(g, &mm) != 0 && strstr(g->err, "fp32 x fp32 -> fp32");
    result(refused, "gemm fp32 x fp32 -> bf16 is refused with a message, as cuda refuses it");
    g->free(g, d);
}

static void test_gemm(Gpu *g) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int ab = 0; ab < 2; ab++)
                for (int ct = 0; ct < 2; ct++)
                    for (int beta = 0; beta < 2; beta++)
                        if (ab == GPU_BF16 || ct == GPU_F32)
                            test_gemm_case(g, ta, tb, (GpuDtype)ab, (GpuDtype)ct, (float)beta, false);
    test_gemm_case(g, 0, 1, GPU_BF16, GPU_BF16, 1.0f, true);
    test_gemm_case(g, 1, 0, GPU_BF16, GPU_F32, 1.0f, true);
    test_gemm_refuses_f32_to_bf16(g);
}

/* ---- singular values: cyclic Jacobi on the Gram matrix (double) ---- */

/* The eigenvalues of the symmetric r x r matrix a (destroyed), into ev. */
static void jacobi_eigen(double *a, int r, double *ev) {
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++) *(i == j ? &diag : &off) += a[i * r + j] * a[i * r + j];
        if (off <= 1e-26 * diag) break;
        for (int p = 0; p < r; p++)
            for (int q = p + 1; q < r; q++) {
                double apq = a[p * r + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * r + q] - a[p * r + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int i = 0; i < r; i++) {
                    double aip = a[i * r + p], aiq = a[i * r + q];
                    a[i * r + p] = c * aip - s * aiq;
                    a[i * r + q] = s * aip + c * aiq;
                }
                for (int i = 0; i < r; i++) {
                    double api = a[p * r + i], aqi = a[q * r + i];
                    a[p * r + i] = c * api - s * aqi;
                    a[q * r + i] = s * api + c * aqi;
                }
            }
    }
    for (int i = 0; i < r; i++) ev[i] = a[i * r + i];
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The singular values of the rows x cols matrix o, ascending, into sv
 * (min(rows, cols) of them). */
static void singular_values(const float *o, int rows, int cols, double *sv) {
    bool tall = rows > cols;
    int r = tall ? cols : rows, c = tall ? rows : cols;
    double *gram = xmalloc(sizeof(double) * (size_t)r * r);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) {
            double s = 0;
            for (int l = 0; l < c; l++) {
                double x = tall ? o[(size_t)l * cols + i] : o[(size_t)i * cols + l];
                double y = tall ? o[(size_t)l * cols + j] : o[(size_t)j * cols + l];
                s += x * y;
            }
            gram[i * r + j] = s;
        }
    jacobi_eigen(gram, r, sv);
    for (int i = 0; i < r; i++) sv[i] = sqrt(fmax(sv[i], 0));
    qsort(sv, (size_t)r, sizeof(double), cmp_double);
    free(gram);
}

/* ---- the optimizer step ---- */

typedef struct {
    ModelSpec spec;
    ModelBuild *b;
    int n;
    ParamTensor meta[PARAMS_MAX];
    size_t off[PARAMS_MAX];  /* host, packed */
    size_t goff[PARAMS_MAX]; /* device gradients */
    size_t total, gtotal;
} Model;

typedef struct {
    Gpu g;
    GpuParams p;
    OptimGpu *o;
    float *grads;
} Dev;

static void dev_open(Dev *d, const Model *m, const float *params) {
    if (gpu_sim_open(&d->g, NULL)) die_gpu(&d->g, "gpu_sim_open");
    if (gpu_params_new(&d->g, m->meta, m->n, &d->p) || gpu_params_upload(&d->g, &d->p, m->meta, params))
        die_gpu(&d->g, "parameters");
    d->o = optim_gpu_new(&d->g, m->b);
    if (!d->o) die_gpu(&d->g, "optim_gpu_new");
    d->grads = d->g.alloc(&d->g, m->gtotal * sizeof(float));
    if (!d->grads) die_gpu(&d->g, "alloc");
}

static void dev_close(Dev *d) {
    optim_gpu_free(d->o);
    gpu_params_free(&d->g, &d->p);
    d->g.free(&d->g, d->grads);
    d->g.close(&d->g);
}

static void upload_grads(Dev *d, const Model *m, const float *grads) {
    for (int i = 0; i < m->n; i++)
        if (d->g.copy_to_device(&d->g, d->grads + m->goff[i], grads + m->off[i], sizeof(float) * (size_t)m->meta[i].numel))
            die_gpu(&d->g, "copy");
}

static void random_grads(const Model *m, float *grads) {
    for (int i = 0; i < m->n; i++) {
        /* Per-tensor scales, as real gradients differ in size by group. */
        double scale = exp2(-4 - (double)(draw() % 8));
        for (int64_t j = 0; j < m->meta[i].numel; j++) grads[m->off[i] + (size_t)j] = gauss(scale);
    }
}

/* The ulps between two floats (0 for the same bits). */
static long long ulps(float a, float b) {
    int32_t x, y;
    memcpy(&x, &a, 4), memcpy(&y, &b, 4);
    long long ox = x < 0 ? -(long long)(x & 0x7fffffff) - 1 : x, oy = y < 0 ? -(long long)(y & 0x7fffffff) - 1 : y;
    return llabs(ox - oy);
}

typedef struct {
    long long adam_ulps, state_ulps, momentum_ulps;
    double muon_rel, sv_diff, sv_lo, sv_hi, below_band;
    long long update_mismatch, head_mismatch;
} Worst;

/* Per Muon matrix: ref's and the device's orthogonalised update, each
 * recovered from the parameter change as (w0 decay - w1) / lr_eff, their
 * relative difference and singular values; plus the exact check of the
 * device's update against o (optim_gpu_direction's output). */
static void check_muon(const Model *m, int i, const float *w0, const float *w_ref, const float *w_gpu,
                       const float *o, int step, Worst *wo) {
    int rows, cols, count;
    params_matrix_shape(&m->meta[i], &rows, &cols, &count);
    MuonCoefs mc = optim_muon_coefs(&m->spec, &m->meta[i], step, spec_lr_mult(&m->spec, step));
    size_t rc = (size_t)rows * cols, base = m->off[i];
    int r = rows < cols ? rows : cols;
    float *want = xmalloc(sizeof(float) * rc), *oref = xmalloc(sizeof(float) * rc);
    double *sg = xmalloc(sizeof(double) * (size_t)r), *sr = xmalloc(sizeof(double) * (size_t)r);
    for (int k = 0; k < count; k++) {
        const float *ok = o + (size_t)k * rc;
        memcpy(want, w0 + base + (size_t)k * rc, sizeof(float) * rc);
        muon_update_apply(want, ok, rc, mc.decay, mc.lr_eff);
        double d2 = 0, r2 = 0;
        for (size_t j = 0; j < rc; j++) {
            size_t at = base + (size_t)k * rc + j;
            if (memcmp(&want[j], &w_gpu[at], 4)) wo->update_mismatch++;
            oref[j] = (float)(((double)w0[at] * mc.decay - w_ref[at]) / mc.lr_eff);
            d2 += ((double)ok[j] - oref[j]) * ((double)ok[j] - oref[j]);
            r2 += (double)oref[j] * oref[j];
        }
        wo->muon_rel = fmax(wo->muon_rel, sqrt(d2 / r2));
        singular_values(ok, rows, cols, sg);
        singular_values(oref, rows, cols, sr);
        for (int j = 0; j < r; j++) {
            wo->sv_diff = fmax(wo->sv_diff, fabs(sg[j] - sr[j]));
            wo->sv_hi = fmax(wo->sv_hi, sg[j]);
            /* Ref's own small singular values say where the band is not reached. */
            if (sr[j] >= BAND_LO) wo->sv_lo = fmin(wo->sv_lo, sg[j]);
            else wo->below_band++;
        }
    }
    free(want), free(oref), free(sg), free(sr);
}

/* Runs STEPS steps on ref and on the device from the same data; with
 * `probe`, checks every step as above. Returns the device's final params
 * and state (host arrays, caller frees) for the determinism check. */
static void run_steps(const Model *m, Dev *d, Optim *ref, float *params_ref, const int *steps, bool probe, Worst *wo,
                      float **final_params, CkptArray *final_state) {
    uint64_t saved = draw_s;
    draw_s = 0x9a7d;
    float *grads = xmalloc(sizeof(float) * m->total), *w0 = xmalloc(sizeof(float) * m->total);
    float *w_gpu = xmalloc(sizeof(float) * m->total);
    for (int si = 0; si < STEPS; si++) {
        int step = steps[si];
        random_grads(m, grads);
        upload_grads(d, m, grads);
        if (gpu_params_download(&d->g, &d->p, m->meta, w0)) die_gpu(&d->g, "download");
        float *o_all = NULL;
        if (probe) {
            /* A second optimizer with the same state gives the direction the step will apply. */
            Dev pr;
            dev_open(&pr, m, w0);
            CkptArray st[3];
            if (optim_gpu_state(d->o, st, 3) != 3 || optim_gpu_set_state(pr.o, st, 3)) die_gpu(&d->g, "state");
            upload_grads(&pr, m, grads);
            o_all = xmalloc(sizeof(float) * m->total);
            for (int i = 0; i < m->n; i++) {
                if (m->meta[i].opt != OPT_MUON) continue;
                const void *x;
                size_t n = (size_t)m->meta[i].numel;
                uint16_t *h = xmalloc(2 * n);
                if (optim_gpu_direction(pr.o, i, pr.grads, step, &x) || pr.g.copy_to_host(&pr.g, h, x, 2 * n))
                    die_gpu(&pr.g, "direction");
                for (size_t j = 0; j < n; j++) o_all[m->off[i] + j] = bf16_to_f32(h[j]);
                free(h);
            }
            dev_close(&pr);
        }
        if (optim_gpu_step(d->o, &d->p, d->grads, step)) die_gpu(&d->g, "optim_gpu_step");
        if (gpu_params_download(&d->g, &d->p, m->meta, w_gpu)) die_gpu(&d->g, "download");
        if (!probe) continue;
        optim_step(ref, params_ref, grads, step);
        for (int i = 0; i < m->n; i++) {
            size_t n = (size_t)m->meta[i].numel, base = m->off[i];
            if (m->meta[i].opt == OPT_MUON) {
                check_muon(m, i, w0, params_ref, w_gpu, o_all + base, step, wo);
                continue;
            }
            for (size_t j = 0; j < n; j++) {
                long long u = ulps(w_gpu[base + j], params_ref[base + j]);
                wo->adam_ulps = u > wo->adam_ulps ? u : wo->adam_ulps;
            }
            if (d->p.t[i].bf16) {
                uint16_t *h = xmalloc(2 * n);
                if (d->g.copy_to_host(&d->g, h, d->p.t[i].bf16, 2 * n)) die_gpu(&d->g, "copy");
                for (size_t j = 0; j < n; j++) wo->head_mismatch += h[j] != f32_to_bf16(w_gpu[base + j]);
                free(h);
            }
        }
        CkptArray sg[3], sr[3];
        if (optim_gpu_state(d->o, sg, 3) != 3 || optim_state(ref, sr, 3) != 3) die_gpu(&d->g, "state");
        for (int j = 0; j < 3; j++) {
            bool same = !strcmp(sg[j].name, sr[j].name) && sg[j].count == sr[j].count;
            if (!same) wo->state_ulps = LLONG_MAX;
            for (size_t e = 0; same && e < sg[j].count; e++) {
                long long u = ulps(sg[j].data[e], sr[j].data[e]);
                if (j == 2) wo->momentum_ulps = u > wo->momentum_ulps ? u : wo->momentum_ulps;
                else wo->state_ulps = u > wo->state_ulps ? u : wo->state_ulps;
            }
        }
        /* Continue both from ref's parameters: each step is checked on its own. */
        if (gpu_params_upload(&d->g, &d->p, m->meta, params_ref)) die_gpu(&d->g, "upload");
        free(o_all);
    }
    *final_params = w_gpu;
    CkptArray st[3];
    if (optim_gpu_state(d->o, st, 3) != 3) die_gpu(&d->g, "state");
    for (int j = 0; j < 3; j++) {
        final_state[j] = st[j];
        final_state[j].data = xmalloc(sizeof(float) * st[j].count);
        memcpy(final_state[j].data, st[j].data, sizeof(float) * st[j].count);
    }
    free(grads), free(w0);
    draw_s = saved;
}

static void random_params(const Model *m, float *p) {
    for (int i = 0; i < m->n; i++) {
        double scale = m->meta[i].opt == OPT_MUON ? 0.05 : 0.5;
        for (int64_t j = 0; j < m->meta[i].numel; j++) p[m->off[i] + (size_t)j] = gauss(scale);
    }
}

static void test_roundtrip(const Model *m, const float *params) {
    Dev d;
    dev_open(&d, m, params);
    float *back = xmalloc(sizeof(float) * m->total);
    bool ok = gpu_params_download(&d.g, &d.p, m->meta, back) == 0 && !memcmp(back, params, sizeof(float) * m->total);
    /* hi is the master's top half: the bf16 weight is its truncation. */
    for (int i = 0; i < m->n && ok; i++) {
        if (m->meta[i].opt != OPT_MUON) continue;
        size_t n = (size_t)m->meta[i].numel;
        uint16_t *h = xmalloc(2 * n);
        ok = d.g.copy_to_host(&d.g, h, d.p.t[i].hi, 2 * n) == 0;
        for (size_t j = 0; j < n && ok; j++) {
            uint32_t u;
            memcpy(&u, &params[m->off[i] + j], 4);
            ok = h[j] == (uint16_t)(u >> 16);
        }
        free(h);
    }
    result(ok, "parameters: upload then download is exact; hi is each Muon master's top 16 bits");
    free(back);
    dev_close(&d);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.yaml\n", argv[0]);
        return 2;
    }
    Model m;
    memset(&m, 0, sizeof m);
    if (!spec_load(argv[1], NULL, 0, &m.spec)) return 2;
    char err[1024];
    if (!(m.b = model_build(&m.spec, err, sizeof err))) return fprintf(stderr, "%s\n", err), 2;
    m.n = m.b->ntensors;
    memcpy(m.meta, m.b->tensors, sizeof *m.meta * (size_t)m.n);
    for (int i = 0; i < m.n; i++) m.off[i] = m.total, m.total += (size_t)m.meta[i].numel;
    /* The device gradients in the build's layout; optim_gpu_layout (the
     * same rule, for executors without a build) must agree with it. */
    m.gtotal = optim_gpu_layout(m.meta, m.n, m.goff);
    bool same_layout = m.gtotal == (size_t)m.b->grad_total;
    for (int i = 0; i < m.n; i++) same_layout = same_layout && m.goff[i] == (size_t)m.b->grad_off[i];
    result(same_layout, "layout: optim_gpu_layout gives the build's gradient offsets (%zu floats)", m.gtotal);

    Dev d;
    if (gpu_sim_open(&d.g, NULL)) die_gpu(&d.g, "gpu_sim_open");
    test_gemm(&d.g);
    d.g.close(&d.g);

    float *params = xmalloc(sizeof(float) * m.total), *params_ref = xmalloc(sizeof(float) * m.total);
    random_params(&m, params);
    test_roundtrip(&m, params);

    /* Momentum warm-up steps, then one in the cooldown (LR multiplier < 1). */
    int steps[STEPS] = {0, 1, 2, 3, m.spec.train.steps - 2};
    Worst wo = {0, 0, 0, 0, 0, INFINITY, 0, 0, 0, 0};
    memcpy(params_ref, params, sizeof(float) * m.total);
    Optim *ref = optim_new(&m.spec, m.meta, m.off, m.n);
    dev_open(&d, &m, params);
    float *final1, *final2;
    CkptArray st1[3], st2[3];
    run_steps(&m, &d, ref, params_ref, steps, true, &wo, &final1, st1);
    dev_close(&d);
    optim_free(ref);
    result(wo.adam_ulps == 0 && wo.state_ulps == 0 && wo.head_mismatch == 0,
           "step: Adam tensors and moments equal ref's (worst %lld and %lld fp32 ulp; tolerance 0: the same "
           "operations in the same order, no FMA), head bf16 copy = master rounded (%lld mismatches)",
           wo.adam_ulps, wo.state_ulps, wo.head_mismatch);
    result(wo.momentum_ulps == 0, "step: Muon momentum equals ref's (worst %lld fp32 ulp)", wo.momentum_ulps);
    result(wo.update_mismatch == 0,
           "step: Muon masters are exactly w decay - lr_eff O for the device's O, through the hi/lo planes "
           "(%lld mismatches)",
           wo.update_mismatch);
    result(wo.muon_rel <= MUON_REL, "step: Muon updates vs ref's fp32 Newton-Schulz: worst relative Frobenius "
                                    "difference %.4f (tolerance %.2f)",
           wo.muon_rel, MUON_REL);
    result(wo.sv_lo >= BAND_LO - SV_TOL && wo.sv_hi <= BAND_HI && wo.sv_diff <= SV_TOL,
           "step: Newton-Schulz output singular values in [%.3f, %.3f] where ref's are in the band (floor %.2f, "
           "ceiling %.2f; %.0f of small inputs below it, as ref's), worst difference from ref's %.4f (tolerance "
           "%.2f)",
           wo.sv_lo, wo.sv_hi, BAND_LO - SV_TOL, BAND_HI, wo.below_band, wo.sv_diff, SV_TOL);

    /* The steps on their own (no reset to ref's parameters) twice: in order,
     * then with random thread and block order and poisoned smem. */
    free(final1);
    for (int j = 0; j < 3; j++) free(st1[j].data);
    dev_open(&d, &m, params);
    run_steps(&m, &d, NULL, NULL, steps, false, &wo, &final1, st1);
    dev_close(&d);
    setenv("GPTC_SIM_SEED", "12345", 1);
    setenv("GPTC_SIM_POISON", "1", 1);
    dev_open(&d, &m, params);
    run_steps(&m, &d, NULL, NULL, steps, false, &wo, &final2, st2);
    dev_close(&d);
    bool same = !memcmp(final1, final2, sizeof(float) * m.total);
    for (int j = 0; j < 3; j++) same = same && !memcmp(st1[j].data, st2[j].data, sizeof(float) * st1[j].count);
    result(same, "determinism: %d steps with random thread/block order + poisoned smem are bit-identical", STEPS);
    free(final1), free(final2), free(params), free(params_ref);
    for (int j = 0; j < 3; j++) free(st1[j].data), free(st2[j].data);
    model_build_free(m.b);
    printf("optim-gpu: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
