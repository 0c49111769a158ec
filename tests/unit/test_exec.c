/*
 * test_exec.c: the plan executor (runtime/device/exec.c) on the sim device, with
 * the model's kernels built at run time (runtime/device/sim/sim_build.c).
 *
 * Today's check runs the part of tiny.yaml's plan whose kernels exist on
 * this branch: layer 3 (no attention, no skip) forward, x0 mix -> MLP norm
 * -> fc GEMM -> relu^2 -> proj GEMM with the residual, and its backward
 * (proj and fc weight gradients, relu^2 and norm backward, the lambdas'
 * two-stage gradients, the x0 mix backward), against runtime/ref's own
 * functions in fp32 on the same bf16 inputs and bf16-exact weights.
 * Tolerance: each output's max |sim - ref| <= 2^-6 of its max |ref| (the
 * plan keeps activations in bf16, 2^-9 relative per rounding, through a
 * chain of about five roundings and two GEMMs).
 */
#include <dlfcn.h>
#include <stdlib.h>

#include "compiler/lang/diag.h"
#include "runtime/device/exec.h"
#include "runtime/device/sim/gpu_sim.h"
#include "runtime/util/rng.h"
#include "runtime/device/sim/sim_build.h"
#include "tests/unit/test.h"
#include "compiler/lang/validate.h"

#include "runtime/ref/real.h"
#include "runtime/ref/elementwise.h"
#include "runtime/ref/reduce.h"

#define TOL 0.015625

/* Where tensor t starts in the host fp32 array (params_list order, packed);
 * the device gradients are laid out apart (the build's grad_off, aligned). */
static size_t host_off(const ModelBuild *b, int t) {
    size_t off = 0;
    for (int i = 0; i < t; i++) off += (size_t)b->tensors[i].numel;
    return off;
}

/* The build of models/tiny.yaml (NULL after a message). */
static ModelBuild *tiny_build(void) {
    ModelSpec s;
    bool loaded = spec_load("models/tiny.yaml", NULL, 0, &s);
    diag_reset();
    char err[1024];
    ModelBuild *b = loaded ? model_build(&s, err, sizeof err) : NULL;
    if (loaded && !b) fprintf(stderr, "%s\n", err);
    return b;
}

static float bf16_value(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A random value cut to bf16 (its low 16 bits zero). */
static float rand_bf16(Rng *r, double scale) {
    float f = (float)((2 * rng_uniform(r) - 1) * scale);
    uint32_t u;
    memcpy(&u, &f, 4);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* Fills a bf16 device buffer with random values and returns them as floats. */
static float *fill(Gpu *g, void *dev, size_t n, Rng *r, double scale) {
    float *h = malloc(n * sizeof *h);
    uint16_t *b = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        h[i] = rand_bf16(r, scale);
        uint32_t u;
        memcpy(&u, &h[i], 4);
        b[i] = (uint16_t)(u >> 16);
    }
    CHECK(g->copy_to_device(g, dev, b, n * 2) == 0);
    free(b);
    return h;
}

static float *read_bf16(Gpu *g, const void *dev, size_t n) {
    uint16_t *b = malloc(n * 2);
    float *h = malloc(n * sizeof *h);
    CHECK(g->copy_to_host(g, b, dev, n * 2) == 0);
    for (size_t i = 0; i < n; i++) h[i] = bf16_value(b[i]);
    free(b);
    return h;
}

/* max |a - b| / max |b|, printed; checked against TOL. */
static void compare(const char *what, const float *a, const float *b, size_t n) {
    double err = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= err)) err = d;
        if (fabs(b[i]) > mag) mag = fabs(b[i]);
    }
    double rel = mag > 0 ? err / mag : err;
    printf("  exec sim vs ref  %-14s max err %.3g of max %.3g (%.2e, tol %.2e)\n", what, err, mag, rel, TOL);
    CHECK(mag > 0);
    CHECK(rel <= TOL);
}

/* The contiguous steps of layer `layer` in one pass; false if none. */
static bool layer_steps(const Plan *p, int layer, bool backward, int *from, int *to) {
    *from = *to = -1;
    for (int i = 0; i < p->nsteps; i++)
        if (p->steps[i].layer == layer && p->steps[i].backward == backward) {
            if (*from < 0) *from = i;
            else CHECK(*to == i);
            *to = i + 1;
        }
    return *from >= 0;
}

static int step_named(const Plan *p, const char *what) {
    for (int i = 0; i < p->nsteps; i++)
        if (!strcmp(p->steps[i].what, what)) return i;
    return -1;
}

typedef struct {
    int T, D, M;
    const float *x, *x0, *fc, *proj, *lam, *dout;
    float *xm, *n2, *rstd, *pre, *act, *out, *dact, *dn, *dxa, *dfc, *dproj, *dxs, *dx0, dlam[2];
} Ref;

/* Layer 3's forward and backward in fp32 with ref's own functions. */
static void ref_layer(Ref *r) {
    int T = r->T, D = r->D, M = r->M;
    size_t TD = (size_t)T * D, TM = (size_t)T * M;
    const float *x0s[1] = {r->x0};
    x0_mix_fwd(r->xm, r->x, x0s, r->lam, 1, TD);
    rmsnorm_fwd(r->n2, r->rstd, r->xm, T, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, M, D, 1, r->n2, D, r->fc, D, 0, r->pre, M);
    relu2_fwd(r->act, r->pre, TM);
    memcpy(r->out, r->xm, TD * 4);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, M, 1, r->act, M, r->proj, M, 1, r->out, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, M, T, 1, r->dout, D, r->act, M, 0, r->dproj, M);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, M, D, 1, r->dout, D, r->proj, M, 0, r->dact, M);
    relu2_bwd(r->dact, r->dact, r->pre, TM);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, D, T, 1, r->dact, M, r->n2, D, 0, r->dfc, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, M, 1, r->dact, M, r->fc, D, 0, r->dn, D);
    memcpy(r->dxa, r->dout, TD * 4);
    rmsnorm_bwd(r->dxa, true, r->dn, r->n2, r->rstd, T, D);
    r->dlam[0] = dot(r->dxa, r->x, TD);
    r->dlam[1] = dot(r->dxa, r->x0, TD);
    memset(r->dx0, 0, TD * 4);
    float *dx0s[1] = {r->dx0};
    x0_mix_bwd(r->dxs, dx0s, r->dxa, r->lam, 1, TD);
}

static float *zalloc(size_t n) { return calloc(n, sizeof(float)); }

TEST(exec_mlp_layer_on_sim_matches_ref) {
    ModelBuild *mb = tiny_build();
    CHECK(mb != NULL);
    if (!mb) return;
    const ModelSpec s = mb->spec;
    char so[4200], err[2048];
    bool built = sim_build_kernels(mb, so, sizeof so, err, sizeof err);
    if (!built) fprintf(stderr, "%s\n", err);
    CHECK(built);
    void *h = built ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
    CHECK(!built || h);
    Gpu g;
    if (!h || gpu_sim_open(&g, h) != 0) {
        CHECK(!h);
        model_build_free(mb);
        return;
    }
    int T = 64, D = s.model.dim, M = s.model.mlp_hidden, L = 3;
    CHECK(!s.model.attention[L]);
    Exec *e = exec_new(mb, &g, T, err, sizeof err);
    CHECK(e != NULL);
    if (!e) return g.close(&g), (void)dlclose(h), model_build_free(mb);
    const Plan *p = exec_plan(e);
    Rng r;
    rng_seed(&r, 7);
    size_t np = exec_num_params(e);
    float *params = zalloc(np);
    for (int t = 0; t < mb->ntensors; t++) {
        const ParamTensor *pt = &mb->tensors[t];
        double scale = pt->ndim == 2 ? 1 / sqrt((double)pt->shape[1]) : 0.5;
        for (int64_t i = 0; i < pt->numel; i++) params[host_off(mb, t) + i] = rand_bf16(&r, scale);
    }
    int t_fc = params_find(mb->tensors, mb->ntensors, ROLE_FC, L);
    int t_proj = params_find(mb->tensors, mb->ntensors, ROLE_PROJ, L);
    int t_scalars = params_find(mb->tensors, mb->ntensors, ROLE_SCALARS, -1);
    float *sc = params + host_off(mb, t_scalars);
    int li = spec_lambda_index(&s, L, 0);
    sc[li] = 0.875f, sc[li + 1] = 0.375f;
    CHECK(exec_upload_params(e, params) == 0);
    int *ids = calloc((size_t)T, sizeof(int));
    CHECK(exec_prepare(e, ids, ids, T, 0, false) == 0);

    Ref ref = {.T = T, .D = D, .M = M, .lam = sc + li};
    size_t TD = (size_t)T * D, TM = (size_t)T * M;
    ref.fc = params + host_off(mb, t_fc);
    ref.proj = params + host_off(mb, t_proj);
    ref.x = fill(&g, exec_buffer(e, "L2.xa=out"), TD, &r, 1.0);
    ref.x0 = fill(&g, exec_buffer(e, "x0"), TD, &r, 1.0);
    int f0, f1, b0, b1;
    CHECK(layer_steps(p, L, false, &f0, &f1) && layer_steps(p, L, true, &b0, &b1));
    CHECK(exec_run(e, f0, f1) == 0);
    float *out = read_bf16(&g, exec_buffer(e, "L3.xm=out"), TD);
    float *act = read_bf16(&g, exec_buffer(e, "L3.act"), TM);
    /* Backward: d out of layer 3 is what the first GEMM of its backward reads. */
    const char *dout_name = p->bufs[p->steps[b0].args[0].id].name;
    ref.dout = fill(&g, exec_buffer(e, dout_name), TD, &r, 0.01);
    CHECK(exec_zero_grads(e) == 0);
    int z = step_named(p, "dx0 = 0");
    CHECK(z >= 0 && exec_run(e, z, z + 1) == 0);
    CHECK(exec_run(e, b0, b1) == 0);
    float *grads = zalloc(np);
    CHECK(exec_download_grads(e, grads) == 0);
    float *dxs = read_bf16(&g, exec_buffer(e, "L3.dxs"), TD);
    float *dx0 = read_bf16(&g, exec_buffer(e, "dx0"), TD);

    ref.xm = zalloc(TD), ref.n2 = zalloc(TD), ref.rstd = zalloc((size_t)T), ref.pre = zalloc(TM);
    ref.act = zalloc(TM), ref.out = zalloc(TD), ref.dact = zalloc(TM), ref.dn = zalloc(TD);
    ref.dxa = zalloc(TD), ref.dfc = zalloc((size_t)M * D), ref.dproj = zalloc((size_t)D * M);
    ref.dxs = zalloc(TD), ref.dx0 = zalloc(TD);
    ref_layer(&ref);
    compare("act", act, ref.act, TM);
    compare("out", out, ref.out, TD);
    compare("d proj", grads + host_off(mb, t_proj), ref.dproj, (size_t)D * M);
    compare("d fc", grads + host_off(mb, t_fc), ref.dfc, (size_t)M * D);
    compare("dxs", dxs, ref.dxs, TD);
    compare("dx0", dx0, ref.dx0, TD);
    compare("d lambdas", grads + host_off(mb, t_scalars) + li, ref.dlam, 2);
    /* Nothing else got a gradient from this layer. */
    CHECK(grads[host_off(mb, t_scalars) + spec_lambda_index(&s, 2, 0)] == 0);

    float *bufs[] = {params, grads, out, act, dxs, dx0, (float *)ref.x, (float *)ref.x0, (float *)ref.dout,
                     ref.xm, ref.n2, ref.rstd, ref.pre, ref.act, ref.out, ref.dact, ref.dn, ref.dxa, ref.dfc,
                     ref.dproj, ref.dxs, ref.dx0};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(ids);
    exec_free(e);
    g.close(&g);
    dlclose(h);
    model_build_free(mb);
}

/* tiny.yaml's build on sim's kernels, with an executor for up to max_T
 * tokens; e NULL after a failed check. */
typedef struct {
    ModelBuild *mb;
    void *h;
    Gpu g;
    Exec *e;
} TinyExec;

static void tiny_exec_open(TinyExec *t, int max_T) {
    char so[4200], err[2048];
    memset(t, 0, sizeof *t);
    t->mb = tiny_build();
    t->h = t->mb && sim_build_kernels(t->mb, so, sizeof so, err, sizeof err) ? dlopen(so, RTLD_NOW) : NULL;
    CHECK(t->h && gpu_sim_open(&t->g, t->h) == 0);
    if (t->h) t->e = exec_new(t->mb, &t->g, max_T, err, sizeof err);
    CHECK(t->e != NULL);
}

static void tiny_exec_close(TinyExec *t) {
    if (t->e) exec_free(t->e);
    if (t->h) t->g.close(&t->g), dlclose(t->h);
    model_build_free(t->mb);
}

/* A token count the attention blocks cannot tile fails with a message, not
 * a crash. */
TEST(exec_refuses_a_token_count_off_the_block_size) {
    TinyExec t;
    tiny_exec_open(&t, 64);
    int ids[64] = {0};
    double loss = 0;
    if (t.e) {
        CHECK(exec_forward(t.e, ids, ids, 48, 0, false, &loss) != 0);
        CHECK_HAS(exec_error(t.e), "multiple of 32");
    }
    tiny_exec_close(&t);
}

/* The stored dS of attention's backward is sized for the training
 * schedule's widest window: a step whose window needs more slots (here the
 * spec the executor reads widened after the build, as no valid model can
 * reach it) is refused with the step and the sizes named, not run over
 * the buffer's end. */
TEST(exec_refuses_a_window_wider_than_the_stored_ds) {
    TinyExec t;
    tiny_exec_open(&t, 512);
    int *ids = calloc(512, sizeof *ids);
    double loss = 0;
    if (t.e && ids) {
        CHECK(exec_forward(t.e, ids, ids, 512, t.mb->spec.train.steps, false, &loss) == 0);
        t.mb->spec.attn.window.max_tokens = 512;
        CHECK(exec_backward(t.e) != 0);
        CHECK_HAS(exec_error(t.e), "stored-dS slots");
        CHECK_HAS(exec_error(t.e), "attention dk dv");
    }
    free(ids);
    tiny_exec_close(&t);
}

/* Step classes (what gptc tune times once for all the steps of a class):
 * tiny's attention layers fall in two, its long-window layers (0 and 5)
 * and the others, at the last step's windows; one kernel's steps differ
 * only where their scalar arguments do, and GEMMs of one shape share one. */
TEST(exec_step_classes_follow_the_work) {
    TinyExec t;
    tiny_exec_open(&t, 512);
    int *ids = calloc(512, sizeof *ids);
    double loss = 0;
    const Plan *p = t.mb ? &t.mb->plan : NULL;
    char (*cls)[512] = p ? malloc(sizeof *cls * (size_t)p->nsteps) : NULL;
    if (t.e && ids && cls) {
        CHECK(exec_forward(t.e, ids, ids, 512, t.mb->spec.train.steps - 1, false, &loss) == 0);
        int n = 0, fwd[8], nfwd = 0;
        for (int s = 0; s < p->nsteps; s++) {
            CHECK(exec_step_class(t.e, s, cls[s], sizeof cls[s]) == 0);
            bool first = true;
            for (int r = 0; r < s && first; r++) first = strcmp(cls[r], cls[s]) != 0;
            n += first;
            if (p->steps[s].kind == STEP_KERNEL && strstr(p->steps[s].kernel, "attn_fwd") && nfwd < 8) fwd[nfwd++] = s;
        }
        CHECK(n < p->nsteps);
        CHECK_EQ_INT(nfwd, 5);
        if (nfwd == 5) {
            CHECK(strcmp(cls[fwd[0]], cls[fwd[1]]) != 0);   /* layer 0 long, layer 1 short */
            CHECK(!strcmp(cls[fwd[1]], cls[fwd[2]]) && !strcmp(cls[fwd[0]], cls[fwd[4]]));
        }
        for (int s = 0; s < p->nsteps; s++)
            for (int r = 0; r < s; r++)
                if (p->steps[s].kind == STEP_GEMM && p->steps[r].kind == STEP_GEMM) {
                    GpuGemm a, b;
                    char ka[64], kb[64];
                    CHECK(exec_gemm(t.e, s, &a) == 0 && exec_gemm(t.e, r, &b) == 0);
                    gpu_gemm_key(&a, ka, sizeof ka), gpu_gemm_key(&b, kb, sizeof kb);
                    if (!strcmp(ka, kb) && !a.c_in == !b.c_in) CHECK(!strcmp(cls[s], cls[r]));
                }
        printf("  exec: tiny's %d plan steps in %d classes\n", p->nsteps, n);
    }
    free(cls);
    free(ids);
    tiny_exec_close(&t);
}
