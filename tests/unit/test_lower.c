/*
 * test_lower.c: the model build (compiler/build.c): the step's plan
 * (lower.c), its kernel bindings (bind.c), the arena (arena.c), the
 * optimizer's launches, and the build written as C data (buildc.c): for
 * every model in models/, the packing property (no two buffers alive at
 * once share bytes, at several T), every read after a write, peak <=
 * no-reuse total; a hand-checked tiny case; the binding check catching a
 * wrong name and placing the arguments in parameter order; and
 * generated/tiny/build.c holding the very build made in-process.
 */
#include <glob.h>
#include <stdlib.h>

#include "compiler/plan/bind.h"
#include "compiler/build.h"
#include "compiler/plan/arena.h"
#include "cli/cmd_compile.h"
#include "compiler/lang/diag.h"
#include "compiler/plan/planstats.h"
#include "tests/unit/test.h"
#include "compiler/lang/validate.h"

#include "generated/tiny/build.c"

/* The build of the model at path; its plan p (NULL after a failed check). */
static ModelBuild *build_of(const char *path, Plan **p) {
    ModelSpec s;
    char err[512] = "";
    bool ok = spec_load(path, NULL, 0, &s);
    diag_reset();
    CHECK(ok);
    ModelBuild *b = ok ? model_build(&s, err, sizeof err) : NULL;
    if (ok && !b) fprintf(stderr, "%s: %s\n", path, err);
    CHECK(!ok || (b && b->has_plan));
    *p = b && b->has_plan ? &b->plan : NULL;
    if (!*p) model_build_free(b), b = NULL;
    return b;
}

TEST(lower_every_model_packs_without_overlap) {
    glob_t g;
    CHECK(glob("models/*.yaml", 0, NULL, &g) == 0);
    CHECK(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        Plan *p;
        ModelBuild *mb = build_of(g.gl_pathv[i], &p);
        if (!mb) continue;
        const ModelSpec s = mb->spec;
        ArenaLayout z = mb->arena;
        int64_t bs = s.attn.window.block_size;
        int64_t Ts[] = {bs, 3 * bs, s.train.tokens_per_rank, 65536};
        for (int t = 0; t < 4; t++) {
            char err[512] = "";
            bool ok = arena_verify(p, Ts[t], err, sizeof err);
            if (!ok) fprintf(stderr, "%s at T=%lld: %s\n", g.gl_pathv[i], (long long)Ts[t], err);
            CHECK(ok);
            CHECK(arena_bytes(z.arena_per_token, z.arena_fixed, Ts[t]) <=
                  arena_bytes(z.total_per_token, z.total_fixed, Ts[t]));
        }
        /* Reuse must actually happen in a model with several layers. */
        CHECK(z.arena_per_token < z.total_per_token);
        PlanStats st;
        plan_stats(p, 65536, &st);
        CHECK(st.launches < st.unfused_launches);
        CHECK(st.bytes < st.unfused_bytes);
        /* The table by kernel adds up to the plan's launches and bytes. */
        PlanKernelBytes by[PLAN_MAX_STEPS];
        int n = plan_bytes_by_kernel(p, 65536, by, PLAN_MAX_STEPS);
        int64_t launches = 0, bytes = 0;
        for (int k = 0; k < n; k++) launches += by[k].launches, bytes += by[k].bytes;
        CHECK(n > 5 && launches == st.launches && bytes == st.bytes && by[0].bytes >= by[n - 1].bytes);
        model_build_free(mb);
    }
    globfree(&g);
}

/* The property checker itself finds a planted overlap and a planted read
 * before write. */
TEST(lower_verify_catches_planted_faults) {
    Plan *p;
    ModelBuild *mb = build_of("models/tiny.yaml", &p);
    if (!mb) return;
    ArenaLayout z;
    arena_pack(p, 512, &z);
    char err[512];
    CHECK(arena_verify(p, 512, err, sizeof err));
    /* Two buffers alive together: L0.q and L0.k (both written by qkv_fwd). */
    int q = -1, k = -1;
    for (int i = 0; i < p->nbufs; i++) {
        if (!strcmp(p->bufs[i].name, "L0.q")) q = i;
        if (!strcmp(p->bufs[i].name, "L0.k")) k = i;
    }
    CHECK(q >= 0 && k >= 0);
    if (q < 0 || k < 0) return model_build_free(mb);
    PlanBuf saved = p->bufs[k];
    p->bufs[k].off_per_token = p->bufs[q].off_per_token;
    p->bufs[k].off_fixed = p->bufs[q].off_fixed;
    CHECK(!arena_verify(p, 512, err, sizeof err));
    CHECK_HAS(err, "share bytes");
    p->bufs[k] = saved;
    /* Swap the first two steps: x0's mix would read before the embedding. */
    PlanStep tmp = p->steps[0];
    p->steps[0] = p->steps[3];
    p->steps[3] = tmp;
    CHECK(!arena_verify(p, 512, err, sizeof err));
    CHECK_HAS(err, "before any step writes it");
    model_build_free(mb);
}

/* tiny at T = 512 by hand: x0 [T,128] bf16 = 256 B per token, so its
 * rule is 256 T + 0; block 32 gives a per-token quantum of 8 bytes. The
 * loss is one fp32 at 256 fixed bytes. The mean-loss colsum gets 1 / T. */
TEST(lower_tiny_by_hand) {
    Plan *p;
    ModelBuild *mb = build_of("models/tiny.yaml", &p);
    if (!mb) return;
    ArenaLayout z;
    arena_pack(p, 512, &z);
    int x0 = -1;
    for (int i = 0; i < p->nbufs; i++)
        if (!strcmp(p->bufs[i].name, "x0")) x0 = i;
    CHECK(x0 >= 0);
    if (x0 < 0) return model_build_free(mb);
    int64_t pt, fx;
    arena_buf_size(p, &p->bufs[x0], &pt, &fx);
    CHECK_EQ_INT(pt, 256);
    CHECK_EQ_INT(fx, 0);
    arena_buf_size(p, &p->bufs[p->loss_buf], &pt, &fx);
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
        CHECK_EQ_INT(st->rows_arg, 2);
        CHECK_EQ_INT(st->n_arg, -1);
        CHECK_EQ_INT(st->args[0].type, PT_PTR);
        CHECK_EQ_INT(st->args[2].type, PT_INT);
    }
    model_build_free(mb);
}

/* A binding that names a parameter the kernel lacks, one bound twice, and
 * an unbound one, all fail the check with the name in the message. */
TEST(lower_binding_check_fails_loudly) {
    Plan *p;
    ModelBuild *mb = build_of("models/tiny.yaml", &p);
    if (!mb) return;
    char err[512];
    CHECK(bind_plan(p, &mb->kernels, err, sizeof err));
    int i = 0;
    while (i < p->nsteps && (p->steps[i].kind != STEP_KERNEL || strcmp(p->steps[i].kernel, "relu2_fwd_m512"))) i++;
    CHECK(i < p->nsteps);
    if (i == p->nsteps) return model_build_free(mb);
    PlanStep saved = p->steps[i];
    p->steps[i].args[0].name = "activation";
    CHECK(!bind_plan(p, &mb->kernels, err, sizeof err));
    CHECK_HAS(err, "has no parameter 'activation'");
    p->steps[i] = saved;
    p->steps[i].args[1].name = p->steps[i].args[0].name;
    CHECK(!bind_plan(p, &mb->kernels, err, sizeof err));
    CHECK_HAS(err, "bound twice");
    p->steps[i] = saved;
    p->steps[i].nargs--;
    CHECK(!bind_plan(p, &mb->kernels, err, sizeof err));
    CHECK_HAS(err, "'rows' of relu2_fwd_m512 is not bound");
    /* Bound in another order, placed back in the kernel's. */
    p->steps[i] = saved;
    PlanArg first = p->steps[i].args[0];
    p->steps[i].args[0] = p->steps[i].args[2], p->steps[i].args[2] = first;
    CHECK(bind_plan(p, &mb->kernels, err, sizeof err));
    CHECK(!memcmp(&p->steps[i], &saved, sizeof saved));
    model_build_free(mb);
}

/* ---- generated/tiny/build.c against the build made here ---- */

static int arg_diff(const PlanArg *a, const PlanArg *b) {
    return strcmp(a->name, b->name) || a->kind != b->kind || a->type != b->type ||
           (a->kind == ARG_BUF && (a->id != b->id || a->off_pt != b->off_pt || a->off != b->off)) ||
           a->ival != b->ival || a->fval != b->fval;
}

static int step_diff(const PlanStep *a, const PlanStep *b) {
    int bad = a->kind != b->kind || strcmp(a->what, b->what) || a->layer != b->layer || a->backward != b->backward ||
              a->nargs != b->nargs;
    if (a->kind == STEP_KERNEL)
        bad += strcmp(a->kernel, b->kernel) || a->kinst != b->kinst || a->kidx != b->kidx ||
               a->rows_arg != b->rows_arg || a->n_arg != b->n_arg;
    if (a->kind == STEP_GEMM) bad += memcmp(&a->gemm, &b->gemm, sizeof a->gemm) != 0;
    bad += memcmp(&a->bytes, &b->bytes, sizeof a->bytes) != 0;
    for (int j = 0; j < a->nargs && j < b->nargs; j++) bad += arg_diff(&a->args[j], &b->args[j]);
    return bad;
}

static int buf_diff(const PlanBuf *a, const PlanBuf *b) {
    return strcmp(a->name, b->name) || a->cls != b->cls || a->dtype != b->dtype || a->per_token != b->per_token ||
           a->fixed != b->fixed || a->tensor != b->tensor ||
           (a->cls == BUF_PARAM && (a->plane != b->plane || a->tensor_off != b->tensor_off)) ||
           (a->cls == BUF_INPUT && a->input != b->input) || a->output != b->output ||
           a->off_per_token != b->off_per_token || a->off_fixed != b->off_fixed || a->first != b->first ||
           a->last != b->last;
}

static int tensor_diff(const ParamTensor *a, const ParamTensor *b) {
    return strcmp(a->name, b->name) || a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof a->shape) ||
           a->numel != b->numel || a->dtype != b->dtype || a->opt != b->opt || a->group != b->group ||
           a->role != b->role || a->layer != b->layer || a->table != b->table || a->bf16_copy != b->bf16_copy;
}

static int kernels_diff(const KernelSet *a, const KernelSet *b) {
    int bad = a->n != b->n;
    for (int i = 0; i < a->n && i < b->n; i++) {
        const EmitInstance *x = &a->inst[i], *y = &b->inst[i];
        bad += strcmp(x->family, y->family) || strcmp(x->tpl, y->tpl) || strcmp(x->suffix, y->suffix) ||
               x->threads != y->threads || x->vec != y->vec || x->width != y->width ||
               x->rows_per_block != y->rows_per_block || x->grid_blocks != y->grid_blocks || x->grid_y != y->grid_y ||
               x->nconsts != y->nconsts || x->nkernels != y->nkernels;
        for (int c = 0; c < x->nconsts && c < y->nconsts; c++)
            bad += strcmp(x->consts[c].name, y->consts[c].name) || x->consts[c].value != y->consts[c].value ||
                   x->consts[c].is_float != y->consts[c].is_float || x->consts[c].fvalue != y->consts[c].fvalue;
        for (int k = 0; k < x->nkernels && k < y->nkernels; k++)
            bad += strcmp(x->kernels[k].name, y->kernels[k].name) || strcmp(x->kernels[k].args, y->kernels[k].args) ||
                   x->kernels[k].smem_bytes != y->kernels[k].smem_bytes;
    }
    return bad;
}

/* generated/tiny/build.c (compiled into this test) is the build model_build
 * makes from models/tiny.yaml, field by field, and its spec reads back as
 * the same ModelSpec. */
TEST(lower_generated_tiny_build_is_the_build) {
    Plan *p;
    ModelBuild *mb = build_of("models/tiny.yaml", &p);
    if (!mb) return;
    const ModelBuild *g = &gptc_build;
    int bad = g->ntensors != mb->ntensors || g->grad_total != mb->grad_total;
    for (int t = 0; t < mb->ntensors && t < g->ntensors; t++)
        bad += tensor_diff(&g->tensors[t], &mb->tensors[t]) || g->grad_off[t] != mb->grad_off[t];
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(kernels_diff(&g->kernels, &mb->kernels), 0);
    CHECK(!strcmp(g->kernels_sha256, mb->kernels_sha256));
    CHECK_EQ_INT(g->plan.nbufs, p->nbufs);
    CHECK_EQ_INT(g->plan.nsteps, p->nsteps);
    CHECK_EQ_INT(g->plan.nforward, p->nforward);
    CHECK_EQ_INT(g->plan.loss_buf, p->loss_buf);
    CHECK_EQ_INT(g->plan.block_size, p->block_size);
    bad = 0;
    for (int i = 0; i < p->nbufs && i < g->plan.nbufs; i++) bad += buf_diff(&g->plan.bufs[i], &p->bufs[i]);
    for (int i = 0; i < p->nsteps && i < g->plan.nsteps; i++) bad += step_diff(&g->plan.steps[i], &p->steps[i]);
    CHECK_EQ_INT(bad, 0);
    CHECK(!memcmp(&g->arena, &mb->arena, sizeof g->arena));
    const OptimPlan *a = &g->optim, *b = &mb->optim;
    CHECK(!memcmp(&a->adam, &b->adam, 7 * sizeof a->adam));
    CHECK(a->nlaunches == b->nlaunches && !memcmp(a->launches, b->launches, sizeof *a->launches * (size_t)a->nlaunches));
    CHECK(a->adam_state == b->adam_state && a->muon_state == b->muon_state && a->x == b->x && a->square == b->square &&
          a->partials == b->partials && a->count == b->count);
    CHECK(!memcmp(a->state_off, b->state_off, sizeof *a->state_off * (size_t)mb->ntensors));
    ModelSpec spec;
    CHECK(spec_load_flat("build.c", gptc_build_spec, strlen(gptc_build_spec), NULL, 0, &spec));
    memcpy(spec.source, mb->spec.source, sizeof spec.source);
    CHECK(!memcmp(&spec, &mb->spec, sizeof spec));
    diag_reset();
    model_build_free(mb);
}

static int compile_cmd(int argc, char **argv) { return cmd_compile(argc, argv, "test"); }

/* gptc compile's plan options: the graph, the traffic line, the arena
 * line, build.c written beside the other files; a bad T is refused. */
TEST(lower_compile_prints_plan) {
    static char out[1 << 20], err[4096];
    tmp_setup("lower");
    int rc = test_run(compile_cmd, out, sizeof out, err, sizeof err, "models/tiny.yaml", "--no-compile", "-o",
                      "@gen", "--print-graph", "--plan-stats=65536", NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_HAS(out, "relu2_fwd_m512");
    CHECK_HAS(out, "plan at T=65536: ");
    CHECK_HAS(out, "launches/step fused");
    CHECK_HAS(out, "by kernel (most bytes first)");
    CHECK_HAS(out, "GEMMs (backward)");
    CHECK_HAS(out, "activation arena at T=65536: ");
    CHECK_HAS(out, "build.c");
    FILE *f = fopen(tmp_path("gen/build.c"), "r");
    CHECK(f != NULL);
    if (f) fclose(f);
    rc = test_run(compile_cmd, out, sizeof out, err, sizeof err, "models/tiny.yaml", "--no-compile", "-o", "@gen",
                  "--plan-stats=abc", NULL);
    CHECK_EQ_INT(rc, 2);
    CHECK_HAS(err, "--plan-stats expects a whole number from 1 to 1099511627776, found 'abc'");
    tmp_cleanup();
}
