/*
 * test_lower.c: the step's plan (compiler/lower.c), its kernel bindings
 * (fuse.c), the arena (bufplan.c) and the emitted schedule (schedule.c):
 * for every model in models/, the packing property (no two buffers alive
 * at once share bytes, at several T), every read after a write, peak <=
 * no-reuse total; a hand-checked tiny case; the binding check catching a
 * wrong name; and generated/tiny/schedule.c agreeing with the plan built
 * in-process.
 */
#include <glob.h>
#include <stdlib.h>

#include "bufplan.h"
#include "cmd_compile.h"
#include "diag.h"
#include "lower.h"
#include "schedule.h"
#include "test.h"
#include "validate.h"

#include "../../generated/tiny/schedule.c"

static Plan *plan_of(const char *path, ModelSpec *s) {
    Plan *p = malloc(sizeof *p);
    char err[512] = "";
    bool ok = spec_load(path, NULL, 0, s);
    diag_reset();
    CHECK(ok);
    if (!ok) return free(p), NULL;
    ok = lower_plan(s, p, err, sizeof err);
    if (!ok) fprintf(stderr, "%s: %s\n", path, err);
    CHECK(ok);
    if (!ok) return free(p), NULL;
    return p;
}

TEST(lower_every_model_packs_without_overlap) {
    glob_t g;
    CHECK(glob("models/*.yaml", 0, NULL, &g) == 0);
    CHECK(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ModelSpec s;
        Plan *p = plan_of(g.gl_pathv[i], &s);
        if (!p) continue;
        BufPlanSize z;
        bufplan_run(p, s.train.tokens_per_rank, &z);
        int64_t bs = s.attn.window.block_size;
        int64_t Ts[] = {bs, 3 * bs, s.train.tokens_per_rank, 65536};
        for (int t = 0; t < 4; t++) {
            char err[512] = "";
            bool ok = bufplan_verify(p, Ts[t], err, sizeof err);
            if (!ok) fprintf(stderr, "%s at T=%lld: %s\n", g.gl_pathv[i], (long long)Ts[t], err);
            CHECK(ok);
            CHECK(bufplan_bytes(z.arena_per_token, z.arena_fixed, Ts[t]) <=
                  bufplan_bytes(z.total_per_token, z.total_fixed, Ts[t]));
        }
        /* Reuse must actually happen in a model with several layers. */
        CHECK(z.arena_per_token < z.total_per_token);
        PlanStats st;
        fuse_stats(p, 65536, &st);
        CHECK(st.launches < st.unfused_launches);
        CHECK(st.bytes < st.unfused_bytes);
        free(p);
    }
    globfree(&g);
}

/* The property checker itself finds a planted overlap and a planted read
 * before write. */
TEST(lower_verify_catches_planted_faults) {
    ModelSpec s;
    Plan *p = plan_of("models/tiny.yaml", &s);
    if (!p) return;
    BufPlanSize z;
    bufplan_run(p, 512, &z);
    char err[512];
    CHECK(bufplan_verify(p, 512, err, sizeof err));
    /* Two buffers alive together: L0.q and L0.k (both written by qkv_fwd). */
    int q = -1, k = -1;
    for (int i = 0; i < p->nbufs; i++) {
        if (!strcmp(p->bufs[i].name, "L0.q")) q = i;
        if (!strcmp(p->bufs[i].name, "L0.k")) k = i;
    }
    CHECK(q >= 0 && k >= 0);
    if (q < 0 || k < 0) return free(p);
    PlanBuf saved = p->bufs[k];
    p->bufs[k].off_per_token = p->bufs[q].off_per_token;
    p->bufs[k].off_fixed = p->bufs[q].off_fixed;
    CHECK(!bufplan_verify(p, 512, err, sizeof err));
    CHECK_HAS(err, "share bytes");
    p->bufs[k] = saved;
    /* Swap the first two steps: x0's mix would read before the embedding. */
    PlanStep tmp = p->steps[0];
    p->steps[0] = p->steps[3];
    p->steps[3] = tmp;
    CHECK(!bufplan_verify(p, 512, err, sizeof err));
    CHECK_HAS(err, "before any step writes it");
    free(p);
}

/* tiny at T = 512 by hand: x0 [T,128] bf16 = 256 B per token, so its
 * rule is 256 T + 0; block 32 gives a per-token quantum of 8 bytes. The
 * loss is one fp32 at 256 fixed bytes. The mean-loss colsum gets 1 / T. */
TEST(lower_tiny_by_hand) {
    ModelSpec s;
    Plan *p = plan_of("models/tiny.yaml", &s);
    if (!p) return;
    BufPlanSize z;
    bufplan_run(p, 512, &z);
    int x0 = -1;
    for (int i = 0; i < p->nbufs; i++)
        if (!strcmp(p->bufs[i].name, "x0")) x0 = i;
    CHECK(x0 >= 0);
    if (x0 < 0) return free(p);
    int64_t pt, fx;
    bufplan_size(p, &p->bufs[x0], &pt, &fx);
    CHECK_EQ_INT(pt, 256);
    CHECK_EQ_INT(fx, 0);
    bufplan_size(p, &p->bufs[p->loss_buf], &pt, &fx);
    CHECK_EQ_INT(pt, 0);
    CHECK_EQ_INT(fx, 256);
    /* x0 is written by step 0 and read by the last x00 norm backward. */
    CHECK_EQ_INT(p->bufs[x0].first, 0);
    CHECK(p->bufs[x0].last > p->nforward);
    /* The loss lives to the end (the executor reads it). */
    CHECK_EQ_INT(p->bufs[p->loss_buf].last, p->nsteps);
    /* Six layers, one without attention: 5 q/k/v GEMMs in the forward. */
    int qkv = 0, kernels = 0;
    for (int i = 0; i < p->nforward; i++) {
        qkv += p->steps[i].kind == STEP_GEMM && strstr(p->steps[i].what, "qkv = h") != NULL;
        kernels += p->steps[i].kind == STEP_KERNEL;
    }
    CHECK_EQ_INT(qkv, 5);
    CHECK(kernels > 0);
    /* The relu^2 of layer 3 reads pre and writes act, both [T, 512] bf16. */
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        if (strcmp(st->what, "L3 relu^2")) continue;
        CHECK(!strcmp(st->kernel, "relu2_fwd_m512"));
        CHECK_EQ_INT(st->nargs, 3);
        CHECK_EQ_INT(p->bufs[st->args[0].id].per_token, 512);
        CHECK(!strcmp(st->args[2].name, "rows") && st->args[2].kind == ARG_ROWS && st->args[2].ival == 1);
    }
    free(p);
}

/* A binding that names a parameter the kernel lacks, and an unbound one,
 * both fail the check with the name in the message. */
TEST(lower_binding_check_fails_loudly) {
    ModelSpec s;
    Plan *p = plan_of("models/tiny.yaml", &s);
    if (!p) return;
    char err[512];
    CHECK(fuse_check(p, err, sizeof err));
    int i = 0;
    while (i < p->nsteps && (p->steps[i].kind != STEP_KERNEL || strcmp(p->steps[i].stem, "relu2_fwd"))) i++;
    CHECK(i < p->nsteps);
    if (i == p->nsteps) return free(p);
    p->steps[i].args[0].name = "activation";
    CHECK(!fuse_check(p, err, sizeof err));
    CHECK_HAS(err, "has no parameter 'activation'");
    p->steps[i].args[0].name = "act";
    p->steps[i].nargs--;
    CHECK(!fuse_check(p, err, sizeof err));
    CHECK_HAS(err, "'rows' of relu2_fwd_m512 is not bound");
    free(p);
}

/* generated/tiny/schedule.c (compiled into this test) holds the plan the
 * executor builds in-process. */
TEST(lower_schedule_matches_generated_tiny) {
    ModelSpec s;
    Plan *p = plan_of("models/tiny.yaml", &s);
    if (!p) return;
    BufPlanSize z;
    bufplan_run(p, s.train.tokens_per_rank, &z);
    CHECK_EQ_INT(GPTC_SCHED_BUFS, p->nbufs);
    CHECK_EQ_INT(GPTC_SCHED_STEPS, p->nsteps);
    CHECK_EQ_INT(GPTC_SCHED_FORWARD_STEPS, p->nforward);
    CHECK_EQ_INT(GPTC_SCHED_ARENA_PER_TOKEN, z.arena_per_token);
    CHECK_EQ_INT(GPTC_SCHED_ARENA_FIXED, z.arena_fixed);
    int bad = 0;
    for (int i = 0; i < p->nbufs && i < GPTC_SCHED_BUFS; i++) {
        const PlanBuf *b = &p->bufs[i];
        const GptcSchedBuf *e = &gptc_sched_bufs[i];
        bad += strcmp(e->name, b->name) || e->per_token != b->per_token || e->fixed != b->fixed ||
               e->off_per_token != b->off_per_token || e->off_fixed != b->off_fixed || e->first != b->first ||
               e->last != b->last;
    }
    int a = 0;
    for (int i = 0; i < p->nsteps && i < GPTC_SCHED_STEPS; i++) {
        const PlanStep *st = &p->steps[i];
        const GptcSchedStep *e = &gptc_sched_steps[i];
        bad += strcmp(e->kind, schedule_step_kind(st->kind)) || e->nargs != st->nargs || e->first_arg != a ||
               (st->kind == STEP_KERNEL && strcmp(e->kernel, st->kernel));
        for (int j = 0; j < st->nargs && a + j < GPTC_SCHED_ARGS; j++) {
            const GptcSchedArg *ga = &gptc_sched_args[a + j];
            bad += strcmp(ga->param, st->args[j].name) || strcmp(ga->kind, schedule_arg_kind(st->args[j].kind)) ||
                   (st->args[j].kind == ARG_BUF && ga->buf != st->args[j].id) || ga->ival != st->args[j].ival;
        }
        a += st->nargs;
    }
    CHECK_EQ_INT(bad, 0);
    free(p);
}

static int compile_cmd(int argc, char **argv) { return cmd_compile(argc, argv, "test"); }

/* gptc compile's plan options: the graph, the traffic line, the arena
 * line, schedule.c written beside the other files; a bad T is refused. */
TEST(lower_compile_prints_plan) {
    static char out[1 << 20], err[4096];
    tmp_setup("lower");
    int rc = test_run(compile_cmd, out, sizeof out, err, sizeof err, "models/tiny.yaml", "--no-compile", "-o",
                      "@gen", "--print-graph", "--plan-stats=65536", NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_HAS(out, "relu2_fwd_m512");
    CHECK_HAS(out, "plan at T=65536: ");
    CHECK_HAS(out, "launches/step fused");
    CHECK_HAS(out, "activation arena at T=65536: ");
    CHECK_HAS(out, "schedule.c");
    FILE *f = fopen(tmp_path("gen/schedule.c"), "r");
    CHECK(f != NULL);
    if (f) fclose(f);
    rc = test_run(compile_cmd, out, sizeof out, err, sizeof err, "models/tiny.yaml", "--no-compile", "-o", "@gen",
                  "--plan-stats=abc", NULL);
    CHECK_EQ_INT(rc, 2);
    CHECK_HAS(err, "--plan-stats=T needs a token count");
    tmp_cleanup();
}
