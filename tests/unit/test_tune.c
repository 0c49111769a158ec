/*
 * test_tune.c: the tuning spaces and choices (compiler/tune/space.h) and
 * the tuning database (compiler/tune/db.h).
 *
 * Spaces: candidate 0 is the rule, every candidate is a launchable shape,
 * the fixed grids of the reductions have no other, and every variant
 * renders from its template. Choices: applied through model_build_tuned,
 * refused when outside the space or made for another template. On sim, a
 * training step with every order-neutral knob moved gives the rules' bits
 * exactly, which proves those knobs order-neutral; the knob that reorders
 * sums stays within a stated tolerance. The database: a round trip,
 * validators that differ, and damaged files, each an error at FILE:LINE.
 * The checkpoint: a resume under other choices is refused.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/build.h"
#include "compiler/lang/diag.h"
#include "compiler/lang/validate.h"
#include "compiler/tune/db.h"
#include "runtime/backend.h"
#include "runtime/data/data.h"
#include "runtime/train/train.h"
#include "tests/unit/test.h"

static bool load(const char *model, ModelSpec *s) {
    bool ok = spec_load(model, NULL, 0, s);
    diag_reset();
    return ok;
}

static bool fixed_grid(const char *family) {
    static const char *const fixed[] = {"x0_lambda_grad", "skip", "muon_momentum", "qkv", "colsum", "attention"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(family, fixed[i])) return true;
    return false;
}

static void check_spaces(const char *model) {
    ModelSpec s;
    if (!load(model, &s)) {
        CHECK(!"the model loads");
        return;
    }
    KernelSet p;
    emit_kernel_set(&s, &p);
    for (int i = 0; i < p.n; i++) {
        const EmitInstance *in = &p.inst[i];
        TuneCandidate c[TUNE_MAX_CANDIDATES];
        int n = tune_candidates(in, c, TUNE_MAX_CANDIDATES);
        CHECK(n >= 1 && c[0].knobs.threads == in->threads && c[0].knobs.vec == in->vec && !c[0].reorders);
        if (fixed_grid(in->family)) CHECK_EQ_INT(n, 1);
        for (int j = 1; j < n; j++) {
            CHECK(c[j].knobs.threads % 32 == 0 && c[j].knobs.threads >= 64 && c[j].knobs.threads <= 1024);
            CHECK(c[j].knobs.vec >= 1 && in->vec % c[j].knobs.vec == 0);
            CHECK(c[j].knobs.threads != in->threads || c[j].knobs.vec != in->vec);
            /* Every variant renders: its template takes these knobs. */
            KernelSet one = {.n = 1};
            one.inst[0] = *in;
            tune_apply(&one.inst[0], c[j].knobs);
            CHECK(strcmp(one.inst[0].kernels[0].name, in->kernels[0].name) != 0);
            StrBuf code = {0};
            char err[512];
            CHECK(emit_kernels(&one, &code, err, sizeof err));
            CHECK(strstr(sb_str(&code), one.inst[0].kernels[0].name) != NULL);
            sb_free(&code);
        }
    }
}

TEST(tune_spaces_start_at_the_rule_and_render) {
    check_spaces("models/tiny-x02.yaml");
    check_spaces("models/r10-medium-x01.yaml");
}

/* A choice for every tuned instance of s: its candidate `pick` counted
 * among those that reorder (or not), the rule when it has none. */
static void choose(const ModelSpec *s, bool reorders, TuneChoices *t) {
    KernelSet p;
    emit_kernel_set(s, &p);
    memset(t, 0, sizeof *t);
    for (int i = 0; i < p.n; i++) {
        TuneCandidate c[TUNE_MAX_CANDIDATES];
        int n = tune_candidates(&p.inst[i], c, TUNE_MAX_CANDIDATES), last = 0;
        for (int j = 1; j < n; j++)
            if (c[j].reorders == reorders) last = j;
        if (!last) continue;
        TuneChoice *ch = &t->c[t->n++];
        snprintf(ch->family, sizeof ch->family, "%s", p.inst[i].family);
        snprintf(ch->shape, sizeof ch->shape, "%s", p.inst[i].suffix);
        tune_template_hash(p.inst[i].tpl, ch->tpl);
        ch->knobs = c[last].knobs;
    }
}

TEST(tune_choices_apply_or_are_refused) {
    ModelSpec s;
    if (!load("models/tiny-x02.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    char err[512];
    ModelBuild *rules = model_build(&s, err, sizeof err);
    TuneChoices t;
    choose(&s, false, &t);
    CHECK(t.n >= 5);
    ModelBuild *tuned = model_build_tuned(&s, &t, err, sizeof err);
    CHECK(rules && tuned);
    if (rules && tuned) {
        CHECK(rules->tuning[0] == 0);
        CHECK(strlen(tuned->tuning) == 16);
        CHECK(strcmp(rules->kernels_sha256, tuned->kernels_sha256) != 0);
        char which[300];
        CHECK(build_kernels_fit(tuned, &s, which, sizeof which));
    }
    model_build_free(rules);
    model_build_free(tuned);
    /* A choice for another model's instance is not this model's business. */
    TuneChoices other = t;
    snprintf(other.c[0].shape, sizeof other.c[0].shape, "d999999");
    other.c[0].knobs.threads = 96;
    ModelBuild *b = model_build_tuned(&s, &other, err, sizeof err);
    CHECK(b != NULL);
    model_build_free(b);
    TuneChoices bad = t;
    bad.c[0].knobs.threads = 96;
    CHECK(!model_build_tuned(&s, &bad, err, sizeof err));
    CHECK_HAS(err, "threads=96");
    CHECK_HAS(err, "is not one of its");
    TuneChoices stale = t;
    snprintf(stale.c[0].tpl, sizeof stale.c[0].tpl, "0123456789abcdef");
    CHECK(!model_build_tuned(&s, &stale, err, sizeof err));
    CHECK_HAS(err, "chosen for another version of templates/");
}

/* ---- on sim: which knobs keep the bits ---- */

#ifndef __SANITIZE_ADDRESS__
typedef struct {
    ModelBuild *mb;
    Backend be;
} Run;

static bool run_open(Run *r, const ModelSpec *s, const TuneChoices *t, int T) {
    char err[4096];
    memset(r, 0, sizeof *r);
    r->mb = model_build_tuned(s, t, err, sizeof err);
    if (!r->mb || !backend_open(&r->be, "sim", r->mb, T, err, sizeof err)) {
        fprintf(stderr, "  %s\n", err);
        return false;
    }
    r->be.init(r->be.impl, 1234);
    return true;
}

static void run_close(Run *r) {
    if (r->mb) backend_close(&r->be);
    model_build_free(r->mb);
}

/* One step: forward, backward, optimizer; the loss. */
static double one_step(Run *r, const int *ids, const int *tgt, int T) {
    double loss = r->be.forward(r->be.impl, ids, tgt, T, 0, false);
    r->be.backward(r->be.impl);
    CHECK(r->be.step(r->be.impl, 0) == 0);
    return loss;
}

static double rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), w += (double)b[i] * b[i];
    return w > 0 ? sqrt(d / w) : sqrt(d);
}

/* Three builds of tiny-x02 on sim, one step each from the same weights and
 * tokens: the rules; every order-neutral knob moved (threads and vector
 * width of the elementwise kernels, rows per block of the row kernels):
 * bit for bit the same loss, gradients and parameters; and the knob that
 * reorders (softcap_ce's threads): the loss within 1e-6 relative and the
 * parameters within 1e-3 relative L2 (a reordered fp32 sum moves the
 * last bits of a gradient, which bf16 roundings then carry). At tiny's
 * 320-token vocabulary (40 vectors a row) no thread holds two vectors at
 * any candidate, so there it happens to match exactly; the tolerance is
 * for the records' vocabulary. Only the plain build runs it (the kernels
 * are the same shared object under ASan). */
TEST(tune_order_neutral_knobs_keep_the_bits_on_sim) {
    ModelSpec s;
    if (!load("models/tiny-x02.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    const int T = 256;
    TuneChoices neutral, reorder;
    choose(&s, false, &neutral);
    choose(&s, true, &reorder);
    CHECK(reorder.n == 1 && !strcmp(reorder.c[0].family, "softcap_ce"));
    Run rule, same, moved;
    bool ok = run_open(&rule, &s, NULL, T) && run_open(&same, &s, &neutral, T) && run_open(&moved, &s, &reorder, T);
    CHECK(ok);
    int *ids = malloc(sizeof(int) * T), *tgt = malloc(sizeof(int) * T);
    for (int t = 0; ok && t < T; t++) ids[t] = (t * 37 + 11) % 256, tgt[t] = (t * 53 + 7) % 256;
    if (ok) {
        double l0 = one_step(&rule, ids, tgt, T), l1 = one_step(&same, ids, tgt, T), l2 = one_step(&moved, ids, tgt, T);
        size_t n = rule.be.num_params(rule.be.impl);
        CHECK(memcmp(&l0, &l1, sizeof l0) == 0);
        CHECK(!memcmp(rule.be.grads(rule.be.impl), same.be.grads(same.be.impl), n * sizeof(float)));
        CHECK(!memcmp(rule.be.params(rule.be.impl), same.be.params(same.be.impl), n * sizeof(float)));
        double el = fabs(l2 - l0) / fabs(l0),
               ep = rel_l2(moved.be.params(moved.be.impl), rule.be.params(rule.be.impl), n);
        printf("  tune: softcap_ce at %d threads: loss rel %.2e (tol 1e-6), parameters rel L2 %.2e (tol 1e-3)\n",
               reorder.c[0].knobs.threads, el, ep);
        CHECK(el <= 1e-6 && ep <= 1e-3);
    }
    free(ids);
    free(tgt);
    run_close(&rule);
    run_close(&same);
    run_close(&moved);
}
#endif

/* ---- the database ---- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

TEST(tune_db_round_trip_and_validators) {
    tmp_setup("tune");
    static TuneDb db, back;
    memset(&db, 0, sizeof db);
    tune_db_validator(&db, "gptc", "0.1.0");
    tune_db_validator(&db, "device", "sim cost model");
    db.nrows = 2;
    db.rows[0] = (TuneRow){{"relu2", "m512", "0123456789abcdef", {256, 8}}, "ok", 12.5};
    db.rows[1] = (TuneRow){{"relu2", "m512", "0123456789abcdef", {1024, 4}}, "pruned", -1};
    db.choices.n = 1;
    db.choices.c[0] = db.rows[0].c;
    char err[512];
    const char *path = tmp_path("t.db");
    CHECK(tune_db_write(path, &db, err, sizeof err));
    CHECK(tune_db_read(path, &back, err, sizeof err));
    CHECK_EQ_INT(back.nvalidators, 2);
    CHECK(!strcmp(back.v[1].value, "sim cost model"));
    CHECK_EQ_INT(back.nrows, 2);
    CHECK(back.rows[0].us == 12.5 && back.rows[1].us < 0);
    CHECK(!strcmp(back.rows[1].status, "pruned"));
    CHECK(back.choices.n == 1 && !memcmp(&back.choices.c[0], &db.choices.c[0], sizeof db.choices.c[0]));
    TuneValidator here[2] = {{"gptc", "0.1.0"}, {"device", "sim cost model"}};
    CHECK(tune_db_holds(&back, path, here, 2, err, sizeof err));
    snprintf(here[1].value, sizeof here[1].value, "NVIDIA H200");
    CHECK(!tune_db_holds(&back, path, here, 2, err, sizeof err));
    CHECK_HAS(err, "was tuned for device sim cost model; here it is NVIDIA H200: tune again");
    CHECK(!tune_db_holds(&back, path, here, 1, err, sizeof err));
    CHECK_HAS(err, "which this run cannot check");
    tmp_cleanup();
}

TEST(tune_db_damage_is_an_error_at_its_line) {
    tmp_setup("tune");
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", ":1: empty file"},
        {"gptc-tune 2\n", ":1: not a gptc tuning database"},
        {"gptc-tune 1\nvalidator gptc\n", ":2: a validator needs a name and a value"},
        {"gptc-tune 1\n# ok\n\nchoice relu2 - m512 threads=256\n", ":4: expected: choice FAMILY"},
        {"gptc-tune 1\nchoice relu2 - m512 threads=25x vec=8\n", ":2: expected: choice FAMILY"},
        {"gptc-tune 1\nchoice relu2 - m512 threads=256 vec=8\nchoice relu2 - m512 threads=128 vec=8\n",
         ":3: a second choice for the same family, template and shape"},
        {"gptc-tune 1\ncandidate relu2 - m512 threads=256 vec=8 fast\n", ":2: a candidate's status is ok"},
        {"gptc-tune 1\ncandidate relu2 - m512 threads=256 vec=8 ok -3\n", ":2: a candidate's time"},
        {"gptc-tune 1\nchoice relu2 - m512 threads=256 vec=8\nvalidator gptc 0.1.0\n",
         ":3: validators come before every candidate and choice"},
        {"gptc-tune 1\nvalidator gptc 1\nvalidator gptc 2\n", ":3: this validator is given twice"},
        {"gptc-tune 1\nbogus\n", ":2: expected validator, candidate or choice"},
    };
    static TuneDb db;
    char err[512];
    const char *path = tmp_path("bad.db");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text(path, cases[i].text);
        CHECK(!tune_db_read(path, &db, err, sizeof err));
        CHECK_HAS(err, cases[i].want);
        CHECK(strncmp(err, path, strlen(path)) == 0);
    }
    FILE *f = fopen(path, "wb");
    if (f) fwrite("gptc-tune 1\nvalidator a\0b\n", 1, 26, f), fclose(f);
    CHECK(!tune_db_read(path, &db, err, sizeof err));
    CHECK_HAS(err, ":2: a NUL byte in the line");
    CHECK(!tune_db_read(tmp_path("missing.db"), &db, err, sizeof err));
    CHECK_HAS(err, "No such file");
    tmp_cleanup();
}

/* ---- the checkpoint keeps the choices ---- */

static int train_quiet(const ModelBuild *mb, const TrainOptions *o, const char *log) {
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    int rc = train_run(mb, o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved), close(fd);
    return rc;
}

/* Two steps on ref under the rules, then a resume with other choices:
 * refused, naming the change, unless --accept-changes. */
TEST(tune_resume_with_other_choices_is_refused) {
    tmp_setup("tune");
    uint16_t tok[6000];
    char err[512], train[4200], val[4200];
    for (int i = 0; i < 6000; i++) tok[i] = (uint16_t)((i * 7 + i / 13) % 256);
    CHECK(shard_write(tmp_path("d_train_000001.bin"), tok, 6000, err, sizeof err));
    CHECK(shard_write(tmp_path("d_val_000000.bin"), tok, 2000, err, sizeof err));
    snprintf(train, sizeof train, "train.data.train=%s/d_train_*.bin", tmp_dir());
    snprintf(val, sizeof val, "train.data.val=%s/d_val_*.bin", tmp_dir());
    const char *sets[] = {train, val, "train.steps=4", "train.val.tokens=1024"};
    ModelSpec s;
    CHECK(spec_load("models/tiny-x02.yaml", sets, 4, &s));
    TuneChoices t;
    choose(&s, false, &t);
    ModelBuild *rules = model_build(&s, err, sizeof err), *tuned = model_build_tuned(&s, &t, err, sizeof err);
    char run[4200], log[4200], text[8192] = "";
    snprintf(run, sizeof run, "%s/run", tmp_dir());
    snprintf(log, sizeof log, "%s/stderr.txt", tmp_dir());
    TrainOptions o = {.run_dir = run, .backend = "ref", .stop_at = 2};
    CHECK(rules && tuned && train_quiet(rules, &o, log) == 0);
    o.resume = true;
    o.stop_at = 0;
    if (rules && tuned) CHECK_EQ_INT(train_quiet(tuned, &o, log), 2);
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[got] = 0;
    if (f) fclose(f);
    CHECK_HAS(text, "kernel tuning: \"\" -> \"");
    CHECK_HAS(text, "build its kernels with the tuning choices it was started with");
    o.accept_changes = true;
    if (rules && tuned) CHECK_EQ_INT(train_quiet(tuned, &o, log), 0);
    model_build_free(rules);
    model_build_free(tuned);
    diag_reset();
    tmp_cleanup();
}
