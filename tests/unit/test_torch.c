/*
 * test_torch.c: the ref executor and the optimizers against the independent
 * PyTorch reference (tests/reference/gptc_ref.py), through the committed
 * fixtures tests/fixtures/NAME.bin of the configs
 * tests/reference/configs/NAME.yaml (make_fixtures.py writes both the
 * format and the meaning of each tensor). torch is needed only to write
 * fixtures, never to run this test.
 *
 * Per fixture, first the schedules of compiler/lang/spec.c (windows, LR
 * multiplier, Muon momentum) against the reference's; then, from the
 * fixture's initial weights (float32 values, so both builds start from
 * exactly the reference's point):
 *   1. ref64 (double): forward on batch 0 with the windows of `eval_step`,
 *      logits and loss; backward, every gradient.
 *   2. ref (float): the same.
 *   3. ref + optim (float): 10 training steps, the loss of each before its
 *      update, against the reference's float64 run.
 * Errors are max |C - torch| over a tensor divided by max |torch| over the
 * same tensor (the loss: by |loss|), so one number per comparison whatever
 * the tensor's scale. Each fixture prints its worst error per comparison
 * next to the tolerance, to keep the margins visible.
 *
 * Tolerances, and why (the numbers quoted were measured on these fixtures;
 * "slips" are deliberate mutations of the reference, which moved the
 * compared values by the amounts given):
 *   TOL_F64 = 2e-7: both sides compute the same function in double, with
 *     one exception the recipe imposes: the rotary cos/sin table is built
 *     in float32 (docs/recipe.md, 'Rotary'), by torch's float32
 *     pow/cos/sin and torch.linspace on one side and by the C library's
 *     powf/cosf/sinf and j / (pairs - 1) on the other. Those differ in the
 *     last bit of some entries, which puts a floor of 5e-10 to 1e-7 under
 *     these errors (the largest, x02_wide, comes from linspace's exponent
 *     for j = 2 of 4 pairs being one ulp below 2/3). Everything else agrees
 *     to ~1e-15: with the table built the C library's way
 *     (make_fixtures.py --libm-rotary, a diagnostic) the worst f64 error of
 *     every fixture is below 5e-15. 2e-7 sits above that floor and below
 *     real slips: an RMSNorm epsilon of 1e-6 instead of 2^-23 moves logits
 *     by 8.5e-7 and gradients by 2.4e-6; a window one block too long, the
 *     EOT counted in the previous document, a token-level instead of
 *     block-level window, or a flipped rotary sign by 5e-2 to 1.
 *   TOL_F32 = 2e-4: float32 has a unit roundoff of 6e-8; the gradient of a
 *     4-6 layer model passes some 10^2 roundings and a few cancellations
 *     (softmax, the norms' backward), measured here at up to 1e-6. Any
 *     convention slip is ~1e-3 or larger (above); this check is about the
 *     float build running the same code, not about small constants.
 *   TOL_TRAIN = 1e-5 on each of the 10 losses (relative): the float run
 *     (float32 Newton-Schulz, optim.h) drifts from the float64 reference by
 *     rounding in every step, measured at up to 6e-8. Adam's first step
 *     divides by |g|, so float noise in the smallest gradient entries is
 *     amplified; that stays far below 1e-5 here. Slips: the LR or momentum
 *     schedule one step late moves the losses by 1.6e-2 and 1.2e-3, one
 *     Newton-Schulz iteration fewer 4e-3, Muon LR 1% high 1e-3, Adam eps
 *     1e-8 instead of 1e-10 8e-5.
 */
#include <glob.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/lang/diag.h"
#include "tests/unit/fixture.h"
#include "runtime/ref/optim.h"
#include "runtime/ref/ref.h"
#include "tests/unit/test.h"
#include "compiler/lang/validate.h"

#define TOL_F64 2e-7
#define TOL_F32 2e-4
#define TOL_TRAIN 1e-5

/* The worst error of one comparison, and where it happened. */
typedef struct {
    double err;
    char where[80];
} Worst;

static void note(Worst *w, double err, const char *where) {
    if (err > w->err || (err != err)) { /* NaN always wins */
        w->err = err;
        snprintf(w->where, sizeof w->where, "%s", where);
    }
}

/* max |a - b| / max |b| over n elements (absolute when b is all zero). */
static double rel_err_d(const double *a, const double *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= diff)) diff = d; /* keeps NaN */
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    return scale > 0 ? diff / scale : diff;
}

static double rel_err_f(const float *a, const double *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= diff)) diff = d;
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    return scale > 0 ? diff / scale : diff;
}

/* Everything the comparisons need from one fixture file. */
typedef struct {
    char name[128];
    Fixture fx;
    ModelSpec spec;
    int T, steps, eval_step;
    const int32_t *inputs, *targets;
    const FixTensor *logits, *loss, *losses;
} Case;

static bool shape_is(const FixTensor *t, int ndim, int64_t d0, int64_t d1) {
    if (!t || t->ndim != ndim || t->shape[0] != d0) return false;
    return ndim == 1 || t->shape[1] == d1;
}

/* Loads the fixture and its config; checks that every tensor it needs is
 * there with the right dtype and shape. */
static bool case_load(const char *path, Case *c) {
    memset(c, 0, sizeof *c);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len < 5 || len - 4 >= sizeof c->name || strcmp(base + len - 4, ".bin")) {
        fprintf(stderr, "  %s: not NAME.bin\n", path);
        return false;
    }
    memcpy(c->name, base, len - 4);
    char err[512], yaml[256];
    if (!fixture_load(path, &c->fx, err, sizeof err)) {
        fprintf(stderr, "  %s\n", err);
        return false;
    }
    snprintf(yaml, sizeof yaml, "tests/reference/configs/%s.yaml", c->name);
    bool loaded = spec_load(yaml, NULL, 0, &c->spec);
    diag_reset();
    if (!loaded) {
        fprintf(stderr, "  %s: cannot load %s\n", c->name, yaml);
        return false;
    }
    const FixTensor *in = fixture_get(&c->fx, "inputs", FIX_I32);
    const FixTensor *tg = fixture_get(&c->fx, "targets", FIX_I32);
    const FixTensor *es = fixture_get(&c->fx, "eval_step", FIX_I32);
    if (!in || in->ndim != 2 || !shape_is(tg, 2, in->shape[0], in->shape[1]) ||
        !shape_is(es, 1, 1, 0)) {
        fprintf(stderr, "  %s: inputs, targets or eval_step missing or misshapen\n", c->name);
        return false;
    }
    c->steps = (int)in->shape[0];
    c->T = (int)in->shape[1];
    c->eval_step = *(const int32_t *)es->data;
    c->inputs = in->data;
    c->targets = tg->data;
    c->logits = fixture_get(&c->fx, "logits", FIX_F64);
    c->loss = fixture_get(&c->fx, "loss", FIX_F64);
    c->losses = fixture_get(&c->fx, "losses", FIX_F64);
    if (!shape_is(c->logits, 2, c->T, c->spec.vocab.padded) || !shape_is(c->loss, 1, 1, 0) ||
        !shape_is(c->losses, 1, c->steps, 0)) {
        fprintf(stderr, "  %s: logits, loss or losses missing or misshapen\n", c->name);
        return false;
    }
    if (c->T <= 0 || c->T % c->spec.attn.window.block_size || c->steps < 1) {
        fprintf(stderr, "  %s: T = %d is not a positive multiple of the block size\n", c->name,
                c->T);
        return false;
    }
    if (c->eval_step < 0 || c->eval_step > c->spec.train.steps) {
        fprintf(stderr, "  %s: eval_step %d outside 0..%d\n", c->name, c->eval_step,
                c->spec.train.steps);
        return false;
    }
    for (int64_t i = 0; i < in->numel; i++)
        if (c->inputs[i] < 0 || c->inputs[i] >= c->spec.vocab.size || c->targets[i] < 0 ||
            c->targets[i] >= c->spec.vocab.size) {
            fprintf(stderr, "  %s: token out of range at %lld\n", c->name, (long long)i);
            return false;
        }
    return true;
}

/* The fixture's param.* and grad.* tensors must be exactly the model's
 * tensors: same names, shapes and params_list order, and nothing else. */
static bool tensors_match(const Case *c, const ParamTensor *meta, int nt) {
    int seen = 0, grads = 0;
    for (int i = 0; i < c->fx.n; i++) {
        grads += !strncmp(c->fx.t[i].name, "grad.", 5);
        if (!strncmp(c->fx.t[i].name, "param.", 6)) {
            if (seen >= nt || strcmp(c->fx.t[i].name + 6, meta[seen].name)) {
                fprintf(stderr, "  %s: fixture tensor %s where the model has %s\n", c->name,
                        c->fx.t[i].name, seen < nt ? meta[seen].name : "no more tensors");
                return false;
            }
            seen++;
        }
    }
    if (seen != nt || grads != nt) {
        fprintf(stderr, "  %s: fixture has %d parameters and %d gradients, the model %d\n",
                c->name, seen, grads, nt);
        return false;
    }
    for (int i = 0; i < nt; i++) {
        char pn[80], gn[80];
        snprintf(pn, sizeof pn, "param.%s", meta[i].name);
        snprintf(gn, sizeof gn, "grad.%s", meta[i].name);
        const FixTensor *p = fixture_get(&c->fx, pn, FIX_F64);
        const FixTensor *g = fixture_get(&c->fx, gn, FIX_F64);
        bool ok = p && g && p->ndim == meta[i].ndim && g->ndim == meta[i].ndim;
        for (int d = 0; ok && d < meta[i].ndim; d++)
            ok = p->shape[d] == meta[i].shape[d] && g->shape[d] == meta[i].shape[d];
        if (!ok) {
            fprintf(stderr, "  %s: %s missing or shaped unlike the model\n", c->name,
                    meta[i].name);
            return false;
        }
    }
    return true;
}

static const double *fx_data(const Case *c, const char *prefix, const char *name) {
    char key[80];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return fixture_get(&c->fx, key, FIX_F64)->data;
}

static void report(const char *name, const char *what, const Worst *w, double tol) {
    printf("  torch %-18s %-13s worst %.2e (tol %.0e, margin x%-8.3g) %s\n", name, what, w->err,
           tol, w->err > 0 ? tol / w->err : INFINITY, w->where);
}

/* 0. The schedules: windows exactly, LR multiplier and momentum to double
 * rounding (both are a few flops from the same inputs). */
static void check_schedules(const Case *c) {
    const FixTensor *w = fixture_get(&c->fx, "schedule.windows", FIX_I32);
    const FixTensor *lr = fixture_get(&c->fx, "schedule.lr_mult", FIX_F64);
    const FixTensor *mo = fixture_get(&c->fx, "schedule.momentum", FIX_F64);
    if (!shape_is(w, 2, c->steps, 2) || !shape_is(lr, 1, c->steps, 0) ||
        !shape_is(mo, 1, c->steps, 0)) {
        CHECK(!"schedule tensors present and shaped [steps, 2], [steps], [steps]");
        return;
    }
    const int32_t *win = w->data;
    const double *lrv = lr->data, *mov = mo->data;
    int bad_windows = 0;
    double worst = 0;
    for (int k = 0; k < c->steps; k++) {
        int lo, sh;
        spec_window_blocks(&c->spec, k, false, &lo, &sh);
        if (lo != win[2 * k] || sh != win[2 * k + 1]) {
            fprintf(stderr, "  %s step %d: windows %d/%d, reference %d/%d\n", c->name, k, lo, sh,
                    win[2 * k], win[2 * k + 1]);
            bad_windows++;
        }
        worst = fmax(worst, fabs(spec_lr_mult(&c->spec, k) - lrv[k]));
        worst = fmax(worst, fabs(spec_muon_momentum(&c->spec, k) - mov[k]));
    }
    printf("  torch %-18s %-13s %d of %d steps' windows differ; lr/momentum worst %.2e (tol 1e-12)\n",
           c->name, "schedules", bad_windows, c->steps, worst);
    CHECK(bad_windows == 0);
    CHECK(worst <= 1e-12);
}

/* 1. The double build: logits, loss and gradients. */
static void check_f64(const Case *c) {
    ref64_Model *m = ref64_model_new(&c->spec, c->T);
    const ParamTensor *meta;
    const size_t *off;
    int nt = ref64_tensors(m, &meta, &off);
    if (!tensors_match(c, meta, nt)) {
        CHECK(!"fixture parameters match the model's");
        ref64_model_free(m);
        return;
    }
    for (int i = 0; i < nt; i++)
        memcpy(ref64_params(m) + off[i], fx_data(c, "param.", meta[i].name),
               (size_t)meta[i].numel * sizeof(double));
    double loss = ref64_forward(m, c->inputs, c->targets, c->T, c->eval_step, false);
    ref64_backward(m);
    Worst wl = {0, ""}, wg = {0, ""};
    const double *tl = c->loss->data;
    note(&wl, rel_err_d(ref64_logits(m), c->logits->data, (size_t)c->logits->numel), "logits");
    note(&wl, fabs(loss - tl[0]) / fabs(tl[0]), "loss");
    for (int i = 0; i < nt; i++)
        note(&wg,
             rel_err_d(ref64_grads(m) + off[i], fx_data(c, "grad.", meta[i].name),
                       (size_t)meta[i].numel),
             meta[i].name);
    report(c->name, "f64 fwd", &wl, TOL_F64);
    report(c->name, "f64 grads", &wg, TOL_F64);
    CHECK(wl.err <= TOL_F64);
    CHECK(wg.err <= TOL_F64);
    ref64_model_free(m);
}

static ref_Model *float_model(const Case *c, const ParamTensor **meta, const size_t **off,
                              int *nt) {
    ref_Model *m = ref_model_new(&c->spec, c->T);
    *nt = ref_tensors(m, meta, off);
    if (!tensors_match(c, *meta, *nt)) {
        ref_model_free(m);
        return NULL;
    }
    for (int i = 0; i < *nt; i++) {
        const double *src = fx_data(c, "param.", (*meta)[i].name);
        float *dst = ref_params(m) + (*off)[i];
        for (int64_t j = 0; j < (*meta)[i].numel; j++) dst[j] = (float)src[j];
    }
    return m;
}

/* 2. The float build: logits, loss and gradients. */
static void check_f32(const Case *c) {
    const ParamTensor *meta;
    const size_t *off;
    int nt;
    ref_Model *m = float_model(c, &meta, &off, &nt);
    if (!m) {
        CHECK(!"fixture parameters match the model's");
        return;
    }
    double loss = ref_forward(m, c->inputs, c->targets, c->T, c->eval_step, false);
    ref_backward(m);
    Worst wl = {0, ""}, wg = {0, ""};
    const double *tl = c->loss->data;
    note(&wl, rel_err_f(ref_logits(m), c->logits->data, (size_t)c->logits->numel), "logits");
    note(&wl, fabs(loss - tl[0]) / fabs(tl[0]), "loss");
    for (int i = 0; i < nt; i++)
        note(&wg,
             rel_err_f(ref_grads(m) + off[i], fx_data(c, "grad.", meta[i].name),
                       (size_t)meta[i].numel),
             meta[i].name);
    report(c->name, "f32 fwd", &wl, TOL_F32);
    report(c->name, "f32 grads", &wg, TOL_F32);
    CHECK(wl.err <= TOL_F32);
    CHECK(wg.err <= TOL_F32);
    ref_model_free(m);
}

/* 3. Training: the float model with the optimizers, step k on batch k. */
static void check_train(const Case *c) {
    const ParamTensor *meta;
    const size_t *off;
    int nt;
    ref_Model *m = float_model(c, &meta, &off, &nt);
    if (!m) {
        CHECK(!"fixture parameters match the model's");
        return;
    }
    Optim *o = optim_new(&c->spec, meta, off, nt);
    const double *want = c->losses->data;
    Worst w = {0, ""};
    for (int k = 0; k < c->steps; k++) {
        const int *in = c->inputs + (size_t)k * c->T, *tg = c->targets + (size_t)k * c->T;
        double loss = ref_forward(m, in, tg, c->T, k, false);
        ref_backward(m);
        optim_step(o, ref_params(m), ref_grads(m), k);
        char where[32];
        snprintf(where, sizeof where, "step %d", k);
        note(&w, fabs(loss - want[k]) / fabs(want[k]), where);
    }
    report(c->name, "f32 train", &w, TOL_TRAIN);
    CHECK(w.err <= TOL_TRAIN);
    optim_free(o);
    ref_model_free(m);
}

/* The models are tiny: OpenMP threads only add barriers, which on a loaded
 * machine cost seconds (spinning threads without free cores; under ASan
 * 0.5 s single-threaded against 2-30 s with two threads and load 5). So this
 * test runs on one thread and restores the setting afterwards. */
TEST(torch_fixtures) {
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    glob_t g;
    int rc = glob("tests/fixtures/*.bin", 0, NULL, &g);
    if (rc != 0 || g.gl_pathc == 0) {
        CHECK(!"fixtures in tests/fixtures/*.bin (run from the repository root)");
        if (rc == 0) globfree(&g);
        omp_set_num_threads(threads);
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        Case c;
        bool ok = case_load(g.gl_pathv[i], &c);
        CHECK(ok);
        if (ok) {
            check_schedules(&c);
            check_f64(&c);
            check_f32(&c);
            check_train(&c);
        }
        fixture_free(&c.fx);
    }
    globfree(&g);
    omp_set_num_threads(threads);
}

static bool put(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The reader refuses damaged files: truncations of a valid fixture at
 * several points, a wrong magic, and stray bytes at the end. */
TEST(fixture_reader_rejects_damage) {
    FILE *f = fopen("tests/fixtures/r8_shape.bin", "rb");
    CHECK(f != NULL);
    if (!f) return;
    static unsigned char buf[1 << 21];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK(n > 64 && n < sizeof buf - 1);
    char path[] = "/tmp/gptc-test-fixture-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    char err[512];
    Fixture fx;
    /* Cut inside the magic, the count, the first name, a shape, the data. */
    size_t cuts[] = {0, 5, 10, 14, 20, 40, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        CHECK(put(path, buf, cuts[i]));
        CHECK(!fixture_load(path, &fx, err, sizeof err));
        CHECK(fx.n == 0 && fx.t == NULL);
    }
    buf[n] = 0; /* one stray byte */
    CHECK(put(path, buf, n + 1));
    CHECK(!fixture_load(path, &fx, err, sizeof err));
    CHECK(strstr(err, "stray") != NULL);
    buf[0] = 'X';
    CHECK(put(path, buf, n));
    CHECK(!fixture_load(path, &fx, err, sizeof err));
    CHECK(strstr(err, "magic") != NULL);
    buf[0] = 'G';
    /* The first tensor's first extent (after magic, count, name length,
     * the 6-byte name "inputs", dtype and ndim) set to 2^62. */
    CHECK(!memcmp(buf + 16, "inputs", 6));
    unsigned char keep[8];
    memcpy(keep, buf + 30, 8);
    memset(buf + 30, 0, 8);
    buf[37] = 0x40;
    CHECK(put(path, buf, n));
    CHECK(!fixture_load(path, &fx, err, sizeof err));
    CHECK(strstr(err, "bad extent") != NULL);
    memcpy(buf + 30, keep, 8); /* intact again: loads */
    CHECK(put(path, buf, n));
    CHECK(fixture_load(path, &fx, err, sizeof err));
    CHECK(fixture_get(&fx, "losses", FIX_F64) != NULL);
    CHECK(fixture_get(&fx, "losses", FIX_F32) == NULL);
    fixture_free(&fx);
    remove(path);
}
