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
 * The checkpoint: a resume under other choices is refused. The search on
 * a fake timer (the fastest, the margin, ties, dropped candidates, the
 * budget), pruning from ptxas's report, and the gate, which drops a
 * planted wrong variant run on sim, and a planted wrong GEMM algorithm of
 * the step's and of Newton-Schulz's.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/build.h"
#include "compiler/codegen/nvrtc.h"
#include "compiler/lang/diag.h"
#include "compiler/lang/validate.h"
#include "compiler/tune/db.h"
#include "compiler/tune/prune.h"
#include "compiler/tune/search.h"
#include "runtime/backend.h"
#include "runtime/data/data.h"
#include "runtime/device/tune_bench.h"
#include "runtime/device/tune_gate.h"
#include "runtime/util/bf16.h"
#include "runtime/train/train.h"
#include "tests/unit/test.h"

static bool load(const char *model, ModelSpec *s) {
    bool ok = spec_load(model, NULL, 0, s);
    diag_reset();
    return ok;
}

static bool fixed_grid(const char *family) {
    static const char *const fixed[] = {"x0_lambda_grad", "skip", "muon_momentum", "qkv", "colsum"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(family, fixed[i])) return true;
    return false;
}

/* An attention candidate against the rule c0. The tiles and dQ's source
 * count as reordering sums; the blocks per SM and the stages do not. dQ is
 * recomputed only at the rule's tiles and blocks per SM (the rule stores
 * dS); 3 stages only at the rule's blocks per SM. attn_fwd on warpgroups
 * (other products: reorders) only where wg (head_dim 64 or 128), with key
 * tiles of 64 or 128, at the rule's blocks per SM and dQ source;
 * attn_bwd_dkdv on warpgroups (query tiles of 32 or 64) only with it, and
 * attn_bwd_dq only with both; attn_fwd's overlapped form (3) likewise, in
 * 3 stages. */
static void check_attention_candidate(TuneCandidate c0, TuneCandidate cj, bool wg) {
    TuneKnobs tiles = cj.knobs;
    tiles.minb = c0.knobs.minb, tiles.stages = c0.knobs.stages;
    CHECK(cj.knobs.stages == 2 || (cj.knobs.stages == 3 && cj.knobs.minb == c0.knobs.minb));
    CHECK(cj.reorders == !tune_knobs_equal(tiles, c0.knobs) && cj.knobs.threads == 2 * cj.knobs.tile);
    CHECK(cj.knobs.minb == 1 || cj.knobs.minb == 2);
    CHECK(c0.knobs.fwd_mma == 1 && cj.knobs.fwd_mma >= 1 && cj.knobs.fwd_mma <= 3);
    CHECK(cj.knobs.fwd_mma != 3 || cj.knobs.stages == 3);
    CHECK(c0.knobs.dkdv_mma == 1 && (cj.knobs.dkdv_mma == 1 || (cj.knobs.dkdv_mma == 2 && cj.knobs.fwd_mma >= 2)));
    CHECK(c0.knobs.dq_mma == 1 && (cj.knobs.dq_mma == 1 || (cj.knobs.dq_mma == 2 && cj.knobs.dkdv_mma == 2)));
    if (cj.knobs.fwd_mma >= 2) {
        CHECK(wg && cj.knobs.fwd_kn >= 64 && cj.knobs.minb == c0.knobs.minb && cj.knobs.dq_src == c0.knobs.dq_src);
        CHECK(cj.knobs.dkdv_mma == 1 || cj.knobs.dkdv_qn >= 32);
        return;
    }
    TuneKnobs src = c0.knobs;
    src.dq_src = 1, src.stages = cj.knobs.stages;
    CHECK(c0.knobs.dq_src == 2 && (cj.knobs.dq_src == 2 || tune_knobs_equal(cj.knobs, src)));
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
        bool attention = !strcmp(in->family, "attention");
        bool wg = s.model.head_dim == 64 || s.model.head_dim == 128;
        if (attention) CHECK_EQ_INT(n, wg ? 162 : 110);
        for (int j = 1; j < n; j++) {
            CHECK(c[j].knobs.threads % 32 == 0 && c[j].knobs.threads >= 64 && c[j].knobs.threads <= 1024);
            CHECK(c[j].knobs.vec >= 1 && in->vec % c[j].knobs.vec == 0);
            CHECK(!tune_knobs_equal(c[j].knobs, c[0].knobs));
            if (attention) check_attention_candidate(c[0], c[j], wg);
            char text[TUNE_KNOBS_TEXT];
            TuneKnobs back = {0};
            tune_knobs_format(c[j].knobs, text, sizeof text);
            for (char *w = strtok(text, " "); w; w = strtok(NULL, " ")) CHECK(tune_knobs_parse(w, &back));
            CHECK(tune_knobs_equal(back, c[j].knobs));
            /* Every variant renders: its template takes these knobs. */
            KernelSet one = {.n = 1};
            one.inst[0] = *in;
            tune_apply(&one.inst[0], c[j].knobs);
            /* Its own namespace, and a kernel of its own (attention's
             * others may keep the rule's: tune_variant_sets' test). */
            int own = 0;
            for (int k = 0; k < in->nkernels; k++) own += strcmp(one.inst[0].kernels[k].name, in->kernels[k].name) != 0;
            CHECK(strcmp(one.inst[0].suffix, in->suffix) != 0 && own >= 1 && (attention || own == in->nkernels));
            StrBuf code = {0};
            char err[512];
            CHECK(emit_kernels(&one, &code, err, sizeof err));
            for (int k = 0; k < in->nkernels; k++) CHECK(strstr(sb_str(&code), one.inst[0].kernels[k].name) != NULL);
            sb_free(&code);
        }
    }
}

TEST(tune_spaces_start_at_the_rule_and_render) {
    check_spaces("models/tiny-x02.yaml");
    check_spaces("models/r10-medium-x01.yaml");
}

/* The number of times kernel `name` is rendered (on) in sets[0..n). */
static int rendered(const KernelSet *sets, int n, const char *name) {
    int count = 0;
    for (int c = 0; c < n; c++)
        for (int i = 0; i < sets[c].n; i++)
            for (int k = 0; k < sets[c].inst[i].nkernels; k++)
                count += !sets[c].inst[i].kernels[k].off && !strcmp(sets[c].inst[i].kernels[k].name, name);
    return count;
}

/* The variants' programs: every kernel of every variant rendered exactly
 * once, in one of as many programs as NVRTC workers here (more where
 * EMIT_MAX_INSTANCES per program needs them), or the rules' own; attention's
 * variants share most of theirs; and the same grouping twice. */
TEST(tune_variant_sets_render_each_kernel_once) {
    ModelSpec s;
    if (!load("models/r10-medium-x01.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    static KernelSet rules, sets[TUNE_MAX_PROGRAMS], again[TUNE_MAX_PROGRAMS];
    static TuneInstance ins[EMIT_MAX_INSTANCES];
    emit_kernel_set(&s, &rules);
    int n = 0, total = 0, kernels = 0, attn = 0, attn_kernels = 0;
    for (int i = 0; i < rules.n; i++) {
        tune_instance_init(&ins[n], i, &rules.inst[i]);
        if (ins[n].n > 1) total += ins[n++].n - 1;
    }
    char err[256] = "";
    int nsets = tune_variant_sets(&rules, ins, n, false, sets, TUNE_MAX_PROGRAMS, err, sizeof err);
    int workers = nvrtc_workers_here(), instances = 0, on = 0, attn_on = 0;
    for (int c = 0; c < nsets; c++) {
        CHECK(sets[c].n >= 1 && sets[c].n <= EMIT_MAX_INSTANCES);
        instances += sets[c].n;
        for (int i = 0; i < sets[c].n; i++)
            for (int k = 0; k < sets[c].inst[i].nkernels; k++) {
                on += !sets[c].inst[i].kernels[k].off;
                attn_on += !sets[c].inst[i].kernels[k].off && !strcmp(sets[c].inst[i].family, "attention");
            }
    }
    int want = instances < workers ? instances : workers;
    if (want * EMIT_MAX_INSTANCES < instances) want = (instances + EMIT_MAX_INSTANCES - 1) / EMIT_MAX_INSTANCES;
    CHECK(total > 100 && nsets == want);
    for (int i = 0; i < n; i++)
        for (int j = 1; j < ins[i].n; j++) {
            const EmitInstance *rule = &rules.inst[ins[i].inst];
            EmitInstance in = *rule;
            tune_apply(&in, ins[i].v[j].knobs);
            bool attention = !strcmp(in.family, "attention");
            attn += attention;
            for (int k = 0; k < in.nkernels; k++, kernels++) {
                attn_kernels += attention;
                bool is_rule = false;
                for (int r = 0; r < rule->nkernels; r++) is_rule = is_rule || !strcmp(rule->kernels[r].name, in.kernels[k].name);
                CHECK(rendered(sets, nsets, in.kernels[k].name) == (is_rule ? 0 : 1));
                CHECK(!is_rule || attention); /* other families' kernels all read threads and vec */
            }
        }
    /* r10's attention: 4 kernels a variant, of which fewer than a third
     * are its own. */
    CHECK(attn > 100 && attn_on < attn_kernels / 3 && on - attn_on == kernels - attn_kernels);
    CHECK(tune_variant_sets(&rules, ins, n, false, again, TUNE_MAX_PROGRAMS, err, sizeof err) == nsets &&
          !memcmp(sets, again, sizeof(KernelSet) * (size_t)nsets));
    printf("  tune: r10's %d variants render %d kernels, not %d (attention's %d: %d), in %d programs (%d NVRTC "
           "workers here)\n", total, on, kernels, attn, attn_on, nsets, workers);
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
/* Builds of tiny-x02 on sim, one step each from the same random
 * weights and tokens (the gate's step, tune_gate.h): the rules; every
 * order-neutral knob moved (threads and vector width of the elementwise
 * kernels, rows per block of the row kernels, attention's blocks per SM,
 * which only its __launch_bounds__ reads): bit for bit the same loss
 * and parameters; and knobs that reorder (softcap_ce's threads, two sets
 * of attention's tiles): within the gate's tolerances. dQ recomputed by
 * attn_bwd_dq instead of read from the dS attn_bwd_dkdv stored (the
 * rule): the same sums term for term, so bit for bit on sim (the GPU's
 * tensor cores promise no such thing, hence its place among the
 * reordering knobs). At tiny's 320-token vocabulary (40
 * vectors a row) no thread holds two vectors at any candidate, so there it
 * happens to match exactly; the tolerance is for the records' vocabulary.
 * Only the plain build runs it (the kernels are the same shared object
 * under ASan). */
TEST(tune_order_neutral_knobs_keep_the_bits_on_sim) {
    ModelSpec s;
    if (!load("models/tiny-x02.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    TuneChoices neutral, reorder;
    choose(&s, false, &neutral);
    choose(&s, true, &reorder);
    CHECK(reorder.n == 2 && !strcmp(reorder.c[0].family, "softcap_ce") && !strcmp(reorder.c[1].family, "attention"));
    /* Attention's smallest tiles everywhere, its 128-row query tile, and
     * the rule's tiles with dQ recomputed. */
    TuneChoices small = {.n = 1}, wide = {.n = 1}, recompute = {.n = 1};
    snprintf(small.c[0].family, sizeof small.c[0].family, "attention");
    snprintf(small.c[0].shape, sizeof small.c[0].shape, "h4_d32");
    wide.c[0] = recompute.c[0] = small.c[0];
    small.c[0].knobs = (TuneKnobs){128, 8, 64, 32, 32, 16, 1, 2, 2, 1, 1, 1, {0}};
    wide.c[0].knobs = (TuneKnobs){256, 8, 128, 128, 64, 32, 1, 2, 2, 1, 1, 1, {0}};
    recompute.c[0].knobs = (TuneKnobs){128, 8, 64, 64, 64, 64, 1, 1, 2, 1, 1, 1, {0}};
    /* Attention's last order-neutral candidate (neutral's) is its 3
     * stages; its 2 blocks per SM in another build. */
    TuneChoices two = neutral;
    for (int i = 0; i < two.n; i++)
        if (!strcmp(two.c[i].family, "attention")) two.c[i].knobs.minb = 2, two.c[i].knobs.stages = 2;
    char err[4096], why[160];
    ModelBuild *b[7] = {model_build(&s, err, sizeof err), model_build_tuned(&s, &neutral, err, sizeof err),
                        model_build_tuned(&s, &reorder, err, sizeof err), model_build_tuned(&s, &small, err, sizeof err),
                        model_build_tuned(&s, &wide, err, sizeof err), model_build_tuned(&s, &recompute, err, sizeof err),
                        model_build_tuned(&s, &two, err, sizeof err)};
    GateStep st[7] = {{0}};
    bool ok = true;
    for (int i = 0; ok && i < 7; i++) ok = b[i] && gate_step(b[i], "sim", 256, &st[i], err, sizeof err);
    if (!ok) printf("  tune: %s\n", err);
    CHECK(ok);
    if (ok) {
        CHECK(gate_compare(&st[0], &st[1], false, why, sizeof why));
        CHECK(gate_compare(&st[0], &st[2], true, why, sizeof why));
        printf("  tune: every order-neutral knob moved: %s; softcap_ce at %d threads with attention's last "
               "variant: %s\n",
               memcmp(st[0].params, st[1].params, st[0].n * sizeof(float)) ? "differs" : "bit-identical",
               reorder.c[0].knobs.threads,
               memcmp(st[0].params, st[2].params, st[0].n * sizeof(float)) ? "within tolerance" : "bit-identical");
        for (int i = 3; i < 5; i++) {
            bool pass = gate_compare(&st[0], &st[i], true, why, sizeof why);
            CHECK(pass);
            printf("  tune: attention %s: %s\n", i == 3 ? "tiles 64/32/32/16" : "tiles 128/128/64/32",
                   pass ? "within the gate's tolerances" : why);
        }
        CHECK(gate_compare(&st[0], &st[5], false, why, sizeof why));
        printf("  tune: attention's dQ recomputed instead of stored: %s\n",
               gate_compare(&st[0], &st[5], false, why, sizeof why) ? "bit-identical" : why);
        CHECK(gate_compare(&st[0], &st[6], false, why, sizeof why));
        printf("  tune: every order-neutral knob moved, attention at 2 blocks per SM: %s\n",
               gate_compare(&st[0], &st[6], false, why, sizeof why) ? "bit-identical" : why);
    }
    for (int i = 0; i < 7; i++) gate_step_free(&st[i]), model_build_free(b[i]);
}

/* Attention on warpgroups in a whole step on sim (wgmma's portable twin),
 * at head_dim 64 with tiny's other sizes: attn_fwd alone (its tiles
 * through 3 stages), plain and overlapped with its softmax, then with
 * attn_bwd_dkdv and attn_bwd_dq (on two warpgroups a block), each against
 * the rules within the gate's tolerances, as the tuner's gate judges them;
 * and the overlapped form bit for bit against the plain one. */
TEST(tune_warpgroup_attention_passes_the_gate_on_sim) {
    const char *sets[] = {"model.dim=128", "model.heads=2", "model.head_dim=64"};
    ModelSpec s;
    bool loaded = spec_load("models/tiny.yaml", sets, 3, &s);
    diag_reset();
    if (!loaded) {
        CHECK(!"the model loads");
        return;
    }
    /* attn_fwd on warpgroups in 3 stages; the same overlapped with its
     * softmax; all three kernels on warpgroups. */
    TuneChoices ch[3] = {{.n = 1}, {.n = 1}, {.n = 1}};
    for (int i = 0; i < 3; i++) {
        snprintf(ch[i].c[0].family, sizeof ch[i].c[0].family, "attention");
        snprintf(ch[i].c[0].shape, sizeof ch[i].c[0].shape, "h2_d64");
    }
    ch[0].c[0].knobs = (TuneKnobs){128, 8, 64, 64, 64, 64, 1, 2, 3, 2, 1, 1, {0}};
    ch[1].c[0].knobs = (TuneKnobs){128, 8, 64, 64, 64, 64, 1, 2, 3, 3, 1, 1, {0}};
    ch[2].c[0].knobs = (TuneKnobs){256, 8, 128, 128, 64, 32, 1, 2, 2, 2, 2, 2, {0}};
    static const char *const what[] = {"attn_fwd (3 stages)", "attn_fwd overlapped with its softmax",
                                       "attn_fwd, attn_bwd_dkdv and attn_bwd_dq"};
    char err[4096], why[160];
    ModelBuild *b[4] = {model_build(&s, err, sizeof err)};
    for (int i = 0; i < 3; i++) b[i + 1] = model_build_tuned(&s, &ch[i], err, sizeof err);
    GateStep st[4] = {{0}};
    bool ok = true;
    for (int i = 0; ok && i < 4; i++) ok = b[i] && gate_step(b[i], "sim", 256, &st[i], err, sizeof err);
    if (!ok) printf("  tune: %s\n", err);
    CHECK(ok);
    for (int i = 1; ok && i < 4; i++) {
        bool pass = gate_compare(&st[0], &st[i], true, why, sizeof why);
        CHECK(pass);
        printf("  tune: %s on warpgroups: %s\n", what[i - 1], pass ? "within the gate's tolerances" : why);
    }
    /* The overlap moves when products run, not what they add: the same
     * bits as attn_fwd's plain warpgroup form. */
    if (ok) CHECK(gate_compare(&st[1], &st[2], false, why, sizeof why));
    for (int i = 0; i < 4; i++) gate_step_free(&st[i]), model_build_free(b[i]);
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
    db.nrows = 4;
    db.rows[0] = (TuneRow){{"relu2", "m512", "0123456789abcdef", {.threads = 256, .vec = 8}}, "ok", 12.5};
    db.rows[1] = (TuneRow){{"attention", "h4_d32", "0123456789abcdef", {256, 8, 128, 32, 64, 16, 2, 1, 3, 1, 1, 1, {0}}}, "pruned", -1};
    /* A GEMM's candidates: the device's default, and an algorithm by its nine fields. */
    db.rows[2] = (TuneRow){{TUNE_GEMM, "m512_n512_k128_nn_hhh_b0", "", {.algo = {.set = 1}}}, "ok", 30};
    db.rows[3] = (TuneRow){{TUNE_GEMM, "m512_n512_k128_nn_hhh_b0", "", {.algo = {2, 21, 18, 5, 4, 2, 1, 0, 3, 7}}}, "slow", 25};
    db.choices.n = 3;
    db.choices.c[0] = db.rows[0].c;
    db.choices.c[1] = db.rows[1].c;
    db.choices.c[2] = db.rows[3].c;
    char err[512];
    const char *path = tmp_path("t.db");
    CHECK(tune_db_write(path, &db, err, sizeof err));
    CHECK(tune_db_read(path, &back, err, sizeof err));
    CHECK_EQ_INT(back.nvalidators, 2);
    CHECK(!strcmp(back.v[1].value, "sim cost model"));
    CHECK_EQ_INT(back.nrows, 4);
    CHECK(back.rows[0].us == 12.5 && back.rows[1].us < 0);
    CHECK(!strcmp(back.rows[1].status, "pruned") && !strcmp(back.rows[3].status, "slow") && back.rows[3].us == 25);
    CHECK(back.choices.n == 3);
    for (int i = 0; i < 3 && i < back.choices.n; i++) CHECK(!memcmp(&back.choices.c[i], &db.choices.c[i], sizeof db.choices.c[i]));
    CHECK(tune_knobs_equal(back.rows[2].c.knobs, db.rows[2].c.knobs) &&
          !tune_knobs_equal(back.rows[2].c.knobs, back.rows[3].c.knobs));
    TuneValidator here[2] = {{"gptc", "0.1.0"}, {"device", "sim cost model"}};
    CHECK(tune_db_holds(&back, path, here, 2, true, err, sizeof err));
    snprintf(here[1].value, sizeof here[1].value, "NVIDIA H200");
    CHECK(!tune_db_holds(&back, path, here, 2, true, err, sizeof err));
    CHECK_HAS(err, "was tuned for device sim cost model; here it is NVIDIA H200: tune again");
    CHECK(!tune_db_holds(&back, path, here, 1, true, err, sizeof err));
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
        {"gptc-tune 1\nchoice gemm - m512_n512_k128_nn_hhh_b0 threads=256 vec=8\n", ":2: expected: choice FAMILY"},
        {"gptc-tune 1\nchoice gemm - m512_n512_k128_nn_hhh_b0 algo=1.2.3\n", ":2: expected: choice FAMILY"},
        {"gptc-tune 1\nchoice relu2 - m512 threads=256 vec=8 algo=default\n", ":2: expected: choice FAMILY"},
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

/* ---- the search, on a fake timer ---- */

/* Times per (instance, candidate), with noise that alternates by round. */
typedef struct {
    double us[4][TUNE_MAX_CANDIDATES];
    double noise;
    int calls;
    double clock_s, per_call_s;
} Fake;

static double fake_time(void *ctx, int inst, TuneKnobs k) {
    Fake *f = ctx;
    f->clock_s += f->per_call_s;
    int j = k.threads / 64 - 1; /* the fake's candidates: threads 64, 128, ... */
    /* The same noise for every candidate of a round of three. */
    return f->us[inst][j] * (1 + (f->calls++ / 3 % 2 ? f->noise : -f->noise));
}

static double fake_elapsed(void *ctx) { return ((Fake *)ctx)->clock_s; }

static void fake_instance(TuneInstance *ti, int inst, int n) {
    memset(ti, 0, sizeof *ti);
    ti->inst = inst;
    ti->n = n;
    for (int j = 0; j < n; j++) ti->v[j] = (TuneVariant){.knobs = {.threads = 64 * (j + 1), .vec = 8}, .status = TUNE_OK, .median_us = -1};
}

TEST(tune_search_argmin_margin_ties_and_budget) {
    Fake f = {.us = {{10, 8, 9}, {10, 9.9, 10.5}, {10, 7, 7}, {10, 6, 5}}, .noise = 0.005};
    TuneInstance ins[4];
    for (int i = 0; i < 4; i++) fake_instance(&ins[i], i, 3);
    ins[3].v[2].status = TUNE_WRONG; /* a dropped candidate is never timed */
    TuneTimer t = {fake_time, fake_elapsed, &f};
    TuneSearch cfg = {.rounds = 21, .margin = 0.02};
    CHECK_EQ_INT(tune_search(ins, 4, &t, &cfg), 4);
    CHECK_EQ_INT(ins[0].chosen, 1);  /* the fastest */
    CHECK_EQ_INT(ins[1].chosen, 0);  /* 1% faster than the rule: within the margin */
    CHECK_EQ_INT(ins[2].chosen, 1);  /* a tie: the lower index */
    CHECK_EQ_INT(ins[3].chosen, 1);  /* the fastest is wrong: the next */
    CHECK(ins[3].v[2].median_us < 0);
    CHECK(fabs(ins[0].v[1].median_us - 8 * 0.995) < 1e-9 || fabs(ins[0].v[1].median_us - 8 * 1.005) < 1e-9);
    CHECK_EQ_INT(f.calls, 21 * (3 + 3 + 3 + 2));
    /* The same timings again: the same choices. */
    TuneInstance again[4];
    for (int i = 0; i < 4; i++) fake_instance(&again[i], i, 3);
    again[3].v[2].status = TUNE_WRONG;
    tune_search(again, 4, &t, &cfg);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(again[i].chosen, ins[i].chosen);
    /* A budget of 2 s at 0.05 s a timing: two instances (63 timings each), then the rules. */
    Fake g = f;
    g.clock_s = 0, g.per_call_s = 0.05, g.calls = 0;
    t.ctx = &g;
    cfg.budget_s = 2;
    for (int i = 0; i < 4; i++) fake_instance(&ins[i], i, 3);
    CHECK_EQ_INT(tune_search(ins, 4, &t, &cfg), 1);
    CHECK_EQ_INT(ins[0].chosen, 1);
    CHECK(ins[1].chosen == 0 && ins[1].v[1].status == TUNE_UNTIMED && ins[3].v[0].status == TUNE_UNTIMED);
    double odd[] = {3, 1, 2}, even[] = {4, 1, 3, 2};
    CHECK(tune_median(odd, 3) == 2 && tune_median(even, 4) == 2.5);
}

/* After TUNE_CUT_ROUNDS rounds the clear losers are timed no more: their
 * medians stay, marked slow; the rule and the contenders go on. */
TEST(tune_search_cuts_the_slow_variants) {
    Fake f = {.us = {{10, 20, 9, 30}, {10, 12, 12.4, 13}}, .noise = 0.005};
    TuneInstance ins[2];
    fake_instance(&ins[0], 0, 4);
    fake_instance(&ins[1], 1, 4);
    TuneTimer t = {fake_time, fake_elapsed, &f};
    TuneSearch cfg = {.rounds = 21, .margin = 0.02};
    CHECK_EQ_INT(tune_search(ins, 2, &t, &cfg), 2);
    CHECK(ins[0].v[1].status == TUNE_SLOW && ins[0].v[3].status == TUNE_SLOW);
    CHECK(ins[0].v[0].status == TUNE_OK && ins[0].v[2].status == TUNE_OK && ins[0].chosen == 2);
    CHECK(fabs(ins[0].v[1].median_us - 20) < 0.2 && fabs(ins[0].v[3].median_us - 30) < 0.3);
    /* 13 is 1.3 times 10, the fastest: cut; 12.4 is 1.24 times: kept. */
    CHECK(ins[1].v[1].status == TUNE_OK && ins[1].v[2].status == TUNE_OK && ins[1].v[3].status == TUNE_SLOW);
    CHECK_EQ_INT(f.calls, TUNE_CUT_ROUNDS * 8 + (21 - TUNE_CUT_ROUNDS) * (2 + 3));
    /* No cut in a search of TUNE_CUT_ROUNDS rounds or fewer. */
    fake_instance(&ins[0], 0, 4);
    cfg.rounds = TUNE_CUT_ROUNDS;
    tune_search(ins, 1, &t, &cfg);
    for (int j = 0; j < 4; j++) CHECK(ins[0].v[j].status == TUNE_OK);
}

/* ---- pruning and the gate ---- */

TEST(tune_pruning_reads_ptxas_report) {
    EmitKernel k = {.name = "relu2_fwd_m512", .smem_bytes = 0};
    KernelRes r = {.name = "relu2_fwd_m512", .entry = true, .registers = 32};
    char why[128];
    CHECK(tune_prune_why(&r, &k, 1024, 0, why, sizeof why) == NULL);
    r.spill_store_bytes = 8;
    CHECK(tune_prune_why(&r, &k, 256, 0, why, sizeof why) != NULL);
    CHECK_HAS(why, "spills 8/0 bytes");
    r.spill_store_bytes = 0, r.stack_bytes = 16;
    CHECK(tune_prune_why(&r, &k, 256, 0, why, sizeof why) != NULL);
    CHECK_HAS(why, "16 bytes of local memory");
    r.stack_bytes = 0, k.smem_bytes = PRUNE_SMEM_MAX;
    r.smem_bytes = 4;
    CHECK(tune_prune_why(&r, &k, 256, 0, why, sizeof why) != NULL);
    CHECK_HAS(why, "bytes of shared memory");
    k.smem_bytes = 0, r.smem_bytes = 0, r.registers = 128;
    CHECK(tune_prune_why(&r, &k, 1024, 0, why, sizeof why) != NULL);
    CHECK_HAS(why, "128 registers x 1024 threads");
    CHECK(tune_prune_why(NULL, &k, 64, 0, why, sizeof why) != NULL);
    CHECK_HAS(why, "no ptxas report");
    /* Two blocks per SM: each with half the SM's registers and shared memory. */
    r.registers = 128;
    CHECK(tune_prune_why(&r, &k, 256, 2, why, sizeof why) == NULL);
    CHECK(tune_prune_why(&r, &k, 256, 3, why, sizeof why) != NULL);
    CHECK_HAS(why, "3 blocks of 128 registers x 256 threads");
    r.registers = 32, k.smem_bytes = 120 * 1024;
    CHECK(tune_prune_why(&r, &k, 128, 1, why, sizeof why) == NULL);
    CHECK(tune_prune_why(&r, &k, 128, 2, why, sizeof why) != NULL);
    CHECK_HAS(why, "2 blocks of 122880 bytes of shared memory");
}

TEST(tune_gate_compares_bits_or_tolerance) {
    float ga[4] = {1, 2, 3, 4}, gb[4] = {1, 2, 3, 4}, pa[4] = {5, 6, 7, 8}, pb[4] = {5, 6, 7, 8};
    GateStep want = {2.5, ga, pa, 4, false}, got = {2.5, gb, pb, 4, false};
    char why[200];
    CHECK(gate_compare(&want, &got, false, why, sizeof why));
    gb[2] = nextafterf(3, 4); /* one ulp of a gradient */
    CHECK(!gate_compare(&want, &got, false, why, sizeof why));
    CHECK_HAS(why, "not bit-identical to the rule");
    CHECK(gate_compare(&want, &got, true, why, sizeof why));
    gb[2] = 3.5f;
    CHECK(!gate_compare(&want, &got, true, why, sizeof why));
    CHECK_HAS(why, "gradients rel L2");
    /* The parameters after the step must match bit for bit where no sum
     * is reordered; where one is, the first step may move them further
     * than the gradients (tune_gate.h), so they are not compared. */
    gb[2] = 3, pb[1] = 6.5f;
    CHECK(!gate_compare(&want, &got, false, why, sizeof why));
    CHECK_HAS(why, "parameters");
    CHECK(gate_compare(&want, &got, true, why, sizeof why));
    /* A round that ran no optimizer step has no parameters: the loss and
     * the gradients decide. */
    got.params = NULL;
    CHECK(gate_compare(&want, &got, false, why, sizeof why));
    gb[3] = nextafterf(4, 5);
    CHECK(!gate_compare(&want, &got, false, why, sizeof why));
    CHECK(!strstr(why, "parameters"));
    gb[3] = 4, got.params = pb;
    got.loss = 2.6;
    CHECK(!gate_compare(&want, &got, true, why, sizeof why));
    CHECK_HAS(why, "loss rel");
}

#ifndef __SANITIZE_ADDRESS__
/* A planted wrong variant: relu2 at another vector width, its forward
 * squaring off by a factor, run on sim: the gate drops it. */
TEST(tune_gate_drops_a_planted_wrong_variant_on_sim) {
    ModelSpec s;
    if (!load("models/tiny.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    char err[4096];
    ModelBuild *rules = model_build(&s, err, sizeof err);
    TuneChoices t = {.n = 1};
    snprintf(t.c[0].family, sizeof t.c[0].family, "relu2");
    snprintf(t.c[0].shape, sizeof t.c[0].shape, "m512");
    t.c[0].knobs = (TuneKnobs){.threads = 256, .vec = 4};
    ModelBuild *right = model_build_tuned(&s, &t, err, sizeof err), *wrong = model_build_tuned(&s, &t, err, sizeof err);
    CHECK(rules && right && wrong);
    if (!rules || !right || !wrong) return;
    /* The planted bug: in the variant's forward, r * r becomes r * r * 1.25f. */
    const char *at = strstr(wrong->kernels_cu, "relu2_fwd_m512_n256v4");
    const char *sq = at ? strstr(at, "r * r") : NULL;
    CHECK(sq != NULL);
    if (sq) {
        StrBuf planted = {0};
        sb_append(&planted, wrong->kernels_cu, (size_t)(sq - wrong->kernels_cu));
        sb_puts(&planted, "r * r * 1.25f");
        sb_puts(&planted, sq + 5);
        free((char *)wrong->kernels_cu);
        wrong->kernels_cu = planted.data;
    }
    GateStep want, good, bad;
    CHECK(gate_step(rules, "sim", 128, &want, err, sizeof err));
    CHECK(gate_step(right, "sim", 128, &good, err, sizeof err));
    CHECK(gate_step(wrong, "sim", 128, &bad, err, sizeof err));
    char why[160];
    CHECK(gate_compare(&want, &good, false, why, sizeof why));
    CHECK(!gate_compare(&want, &bad, false, why, sizeof why));
    CHECK(!gate_compare(&want, &bad, true, why, sizeof why));
    printf("  tune: the planted wrong relu2 variant: %s (losses %.9g %.9g %.9g)\n", why, want.loss, good.loss, bad.loss);
    gate_step_free(&want);
    gate_step_free(&good);
    gate_step_free(&bad);
    model_build_free(rules);
    model_build_free(right);
    model_build_free(wrong);
}

/* The planted wrong GEMM algorithm: sim's split-K in 4 parts, on the
 * shapes in planted_key, scales its output by 1.05 (further from the
 * default's than either tolerance). The device's gemm and gemm_use are
 * wrapped to know when it runs. */
static char planted_key[2][48];
static bool planted_on[2];
static int (*real_gemm)(Gpu *, const GpuGemm *);
static int (*real_use)(Gpu *, const char *, const GpuGemmAlgo *);

static int planted_use(Gpu *g, const char *key, const GpuGemmAlgo *a) {
    for (int k = 0; k < 2; k++)
        if (!key || !strcmp(key, planted_key[k])) planted_on[k] = key && a && a->splitk == 4;
    return real_use(g, key, a);
}

static int planted_gemm(Gpu *g, const GpuGemm *mm) {
    int rc = real_gemm(g, mm);
    char key[48];
    gpu_gemm_key(mm, key, sizeof key);
    for (int k = 0; !rc && k < 2; k++) {
        if (!planted_on[k] || strcmp(key, planted_key[k])) continue;
        /* sim: device memory is the host's */
        size_t n = gpu_gemm_c_count(mm);
        for (size_t i = 0; i < n; i++)
            if (mm->c_type == GPU_F32) ((float *)mm->c)[i] *= 1.05f;
            else ((uint16_t *)mm->c)[i] = f32_to_bf16(1.05f * bf16_to_f32(((uint16_t *)mm->c)[i]));
    }
    return rc;
}

TEST(tune_gemm_gate_drops_a_planted_wrong_algorithm_on_sim) {
    ModelSpec s;
    if (!load("models/tiny.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    char err[4096];
    static TuneInstance ins[TUNE_MAX_INSTANCES];
    int n = 0;
    ModelBuild *rules = model_build(&s, err, sizeof err);
    TuneBench *tb = rules ? tune_bench_open(rules, ins, 0, "sim", 512, err, sizeof err) : NULL;
    CHECK(tb && tune_bench_gemms(tb, ins, &n, TUNE_MAX_INSTANCES, 128, err, sizeof err) > 0);
    /* One of the step's shapes (the MLP's up projection) and one of
     * Newton-Schulz's (T = B X on attention's four matrices). */
    snprintf(planted_key[0], sizeof planted_key[0], "m128_n512_k128_nt_hhh_b0");
    snprintf(planted_key[1], sizeof planted_key[1], "m128_n128_k128_x4_nn_hhf_b0");
    int at[2] = {-1, -1};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++)
            if (!strcmp(ins[i].shape, planted_key[k])) at[k] = i;
    CHECK(at[0] >= 0 && at[1] >= 0);
    Gpu *g = tb ? tune_bench_gpu(tb) : NULL;
    if (g && at[0] >= 0 && at[1] >= 0) {
        real_gemm = g->gemm, real_use = g->gemm_use;
        g->gemm = planted_gemm, g->gemm_use = planted_use;
        bool ok = tune_bench_gemm_gate(tb, ins, n, 128, err, sizeof err);
        g->gemm = real_gemm, g->gemm_use = real_use;
        if (!ok) printf("  tune: %s\n", err);
        CHECK(ok);
        int wrong = 0, planted = 0;
        for (int i = 0; ok && i < n; i++)
            for (int j = 1; j < ins[i].n; j++) {
                bool bad = (i == at[0] || i == at[1]) && ins[i].v[j].knobs.algo.splitk == 4;
                planted += bad;
                wrong += ins[i].v[j].status == TUNE_WRONG;
                CHECK((ins[i].v[j].status == TUNE_WRONG) == bad);
                if (bad) printf("  tune: planted split-K 4 on %s: %s\n", ins[i].shape, ins[i].v[j].why);
            }
        CHECK(planted == 2 && wrong == 2);
    }
    tune_bench_close(tb);
    model_build_free(rules);
}

/* Launches by kernel name while the device times them (the timing's
 * replays), counted around the device's own calls. */
static struct {
    char name[64];
    int n;
} launched[16];
static int nlaunched;
static bool timing_now;
static int (*real_launch)(Gpu *, const char *, const GpuLaunch *, void **);
static int (*real_set_timing)(Gpu *, bool, size_t);

static int counted_set_timing(Gpu *g, bool on, size_t wipe) {
    timing_now = on;
    return real_set_timing(g, on, wipe);
}

static int counted_launch(Gpu *g, const char *name, const GpuLaunch *l, void **args) {
    int i = 0;
    while (timing_now && i < nlaunched && strcmp(launched[i].name, name)) i++;
    if (timing_now && i == nlaunched && nlaunched < 16) snprintf(launched[nlaunched++].name, sizeof launched[0].name, "%s", name);
    if (timing_now && i < nlaunched) launched[i].n++;
    return real_launch(g, name, l, args);
}

static int launches_of(const char *name) {
    for (int i = 0; i < nlaunched; i++)
        if (!strcmp(launched[i].name, name)) return launched[i].n;
    return 0;
}

/* The variant of attention instance `in` that is the rule but for one
 * streamed tile (its index among ins' candidates). */
static int attention_variant(const TuneInstance *ti, int fwd_kn, int dkdv_qn) {
    TuneKnobs want = ti->v[0].knobs;
    want.fwd_kn = fwd_kn, want.dkdv_qn = dkdv_qn;
    for (int j = 1; j < ti->n; j++)
        if (tune_knobs_equal(ti->v[j].knobs, want)) return j;
    return -1;
}

/* Timing attention's variants: a kernel that several of them share with
 * the rules (all but the one whose knobs they change) is launched once per
 * pass, not once per variant, and each variant still gets a time. */
TEST(tune_timing_launches_a_shared_kernel_once_on_sim) {
    ModelSpec s;
    if (!load("models/tiny.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    char err[4096];
    static TuneInstance ins[1];
    ModelBuild *rules = model_build(&s, err, sizeof err);
    int a = rules ? rules->kernels.n - 1 : 0;
    CHECK(rules && !strcmp(rules->kernels.inst[a].family, "attention"));
    if (!rules) return;
    tune_instance_init(&ins[0], a, &rules->kernels.inst[a]);
    const TuneKnobs rule = ins[0].v[0].knobs;
    int dkdv = attention_variant(&ins[0], rule.fwd_kn, rule.dkdv_qn / 2);
    int fwd = attention_variant(&ins[0], rule.fwd_kn / 2, rule.dkdv_qn);
    CHECK(dkdv > 0 && fwd > 0);
    if (dkdv <= 0 || fwd <= 0) {
        model_build_free(rules);
        return;
    }
    const TuneVariant one = ins[0].v[dkdv], other = ins[0].v[fwd];
    ins[0].v[1] = one, ins[0].v[2] = other, ins[0].n = 3;
    TuneBench *tb = tune_bench_open(rules, ins, 1, "sim", 64, err, sizeof err);
    CHECK(tb != NULL);
    Gpu *g = tb ? tune_bench_gpu(tb) : NULL;
    if (g) {
        real_launch = g->launch, real_set_timing = g->set_timing;
        g->launch = counted_launch, g->set_timing = counted_set_timing;
        nlaunched = 0;
        TuneBenchTiming cfg = {.rounds = 1, .margin = 0.02, .T = 64};
        int rounds = tune_bench_time(tb, ins, &cfg, err, sizeof err);
        g->launch = real_launch, g->set_timing = real_set_timing;
        if (rounds != 1) printf("  tune: %s\n", err);
        CHECK(rounds == 1);
        EmitInstance v[3];
        for (int j = 0; j < 3; j++) {
            v[j] = rules->kernels.inst[a];
            tune_apply(&v[j], ins[0].v[j].knobs);
            CHECK(ins[0].v[j].median_us > 0);
        }
        /* attn_fwd: the rule's (shared by the dkdv variant) and the fwd
         * variant's, as often each; attn_bwd_dkdv likewise; attn_bwd_pre
         * and attn_bwd_dq, all three variants' one kernel. */
        int rule_fwd = launches_of(v[0].kernels[0].name), rule_dkdv = launches_of(v[0].kernels[2].name);
        CHECK(!strcmp(v[1].kernels[0].name, v[0].kernels[0].name) && strcmp(v[2].kernels[0].name, v[0].kernels[0].name));
        CHECK(!strcmp(v[2].kernels[2].name, v[0].kernels[2].name) && strcmp(v[1].kernels[2].name, v[0].kernels[2].name));
        CHECK(rule_fwd > 0 && rule_fwd == launches_of(v[2].kernels[0].name));
        CHECK(rule_dkdv > 0 && rule_dkdv == launches_of(v[1].kernels[2].name));
        CHECK(nlaunched == 6);
        printf("  tune: 3 attention variants timed with %d launches of the shared attn_fwd and %d of attn_bwd_dkdv\n",
               rule_fwd, rule_dkdv);
    }
    tune_bench_close(tb);
    model_build_free(rules);
}

/* The index of the first instance of `family` in b's kernel set, -1 none. */
static int instance_of(const ModelBuild *b, const char *family) {
    for (int i = 0; i < b->kernels.n; i++)
        if (!strcmp(b->kernels.inst[i].family, family)) return i;
    return -1;
}

/* The relu2 variant's forward, planted to write a NaN into its output. */
static char nan_kernel[64];
static int (*nan_real_launch)(Gpu *, const char *, const GpuLaunch *, void **);

static int nan_launch(Gpu *g, const char *name, const GpuLaunch *l, void **args) {
    int rc = nan_real_launch(g, name, l, args);
    if (!rc && !strcmp(name, nan_kernel)) **(uint16_t **)args[0] = 0x7fc0; /* sim: device memory is the host's */
    return rc;
}

/* The bench's gate rounds: one without an optimizer kernel runs no step
 * (no parameters, the executor's gradients), one with an Adam variant
 * steps and compares the parameters, and a round after it starts from the
 * gate's weights again (or its gradients would not be the rules'); a
 * variant planted to give a NaN fails the gate, not the tuning. */
TEST(tune_bench_gate_steps_only_for_the_optimizer_on_sim) {
    ModelSpec s;
    if (!load("models/tiny.yaml", &s)) {
        CHECK(!"the model loads");
        return;
    }
    char err[4096] = "";
    static TuneInstance ins[2];
    ModelBuild *rules = model_build(&s, err, sizeof err);
    int relu = rules ? instance_of(rules, "relu2") : -1, adam = rules ? instance_of(rules, "adam") : -1;
    CHECK(relu >= 0 && adam >= 0);
    if (relu < 0 || adam < 0) {
        model_build_free(rules);
        return;
    }
    tune_instance_init(&ins[0], relu, &rules->kernels.inst[relu]);
    tune_instance_init(&ins[1], adam, &rules->kernels.inst[adam]);
    ins[0].n = ins[1].n = 2;
    TuneBench *tb = tune_bench_open(rules, ins, 2, "sim", 128, err, sizeof err);
    CHECK(tb != NULL);
    GateStep want, got;
    char why[200];
    int no_optim[2] = {1, 0}, optim[2] = {0, 1};
    if (tb && tune_bench_gate_step(tb, NULL, 128, &want, err, sizeof err)) {
        CHECK(want.params && !want.borrowed);
        for (int round = 0; round < 3; round++) {
            const int *pick = round == 1 ? optim : no_optim;
            CHECK(tune_bench_gate_step(tb, pick, 128, &got, err, sizeof err));
            CHECK(round == 1 ? got.params && !got.borrowed : !got.params && got.borrowed);
            bool pass = gate_compare(&want, &got, false, why, sizeof why);
            if (!pass) printf("  tune: round %d: %s\n", round, why);
            CHECK(pass);
            gate_step_free(&got);
        }
        /* A variant whose step gives a non-finite loss fails the gate; the
         * tuning goes on. */
        Gpu *g = tune_bench_gpu(tb);
        EmitInstance v = rules->kernels.inst[relu];
        tune_apply(&v, ins[0].v[1].knobs);
        snprintf(nan_kernel, sizeof nan_kernel, "%s", v.kernels[0].name);
        nan_real_launch = g->launch, g->launch = nan_launch;
        bool ran = tune_bench_gate_step(tb, no_optim, 128, &got, err, sizeof err);
        g->launch = nan_real_launch;
        CHECK(ran && !isfinite(got.loss) && !strncmp(nan_kernel, "relu2_fwd_", 10));
        if (!ran) printf("  tune: %s\n", err);
        CHECK(ran && !gate_compare(&want, &got, false, why, sizeof why) && !gate_compare(&want, &got, true, why, sizeof why));
        if (ran) printf("  tune: a variant planted to give a NaN loss: %s\n", why), gate_step_free(&got);
        gate_step_free(&want);
    } else {
        CHECK(!"the rules' gate step");
        printf("  tune: %s\n", err);
    }
    tune_bench_close(tb);
    model_build_free(rules);
}
#endif
