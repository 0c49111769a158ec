/*
 * buildc.c: a model build as C data (see buildc.h). Designated
 * initializers throughout, so that each value is named where it stands
 * and a field added to a struct cannot shift the others. Only numbers,
 * enums and names gptc itself made reach the file; the spec's free text
 * travels inside its JSON string, escaped.
 */
#include "compiler/codegen/buildc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/lang/spec_json.h"

/* A C string literal of s, escaped. */
static void c_str(StrBuf *out, const char *s) {
    sb_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(out, "\\%c", *p);
        else if (*p >= 32 && *p < 127) sb_append(out, (const char *)p, 1);
        else sb_printf(out, "\\%03o", *p);
    }
    sb_puts(out, "\"");
}

static const char *enum_name(const char *const *names, int n, int v) { return v >= 0 && v < n ? names[v] : "0"; }
#define ENUM_NAME(names, v) enum_name(names, (int)(sizeof names / sizeof *names), (int)(v))

static const char *const arg_kinds[] = {"ARG_BUF", "ARG_NULL", "ARG_INT", "ARG_FLOAT",
                                        "ARG_ROWS", "ARG_INV_ROWS", "ARG_WINDOW", "ARG_NSEG",
                                        "ARG_DS_SLOTS"};
static const char *const step_kinds[] = {"STEP_KERNEL", "STEP_GEMM", "STEP_COPY", "STEP_ZERO"};
static const char *const param_types[] = {"PT_PTR", "PT_INT", "PT_LL", "PT_FLOAT"};
static const char *const buf_classes[] = {"BUF_ARENA", "BUF_INPUT", "BUF_PARAM", "BUF_INTERNAL"};
static const char *const dtypes[] = {"PD_BF16", "PD_F32", "PD_I32", "PD_U16"};
static const char *const planes[] = {"PLANE_MASTER", "PLANE_HI", "PLANE_BF16COPY", "PLANE_GRAD"};
static const char *const inputs[] = {"IN_IDS", "IN_TARGETS", "IN_DOC_START", "IN_COS", "IN_SIN",
                                     "IN_SEG_ORDER", "IN_SEG_START", "IN_SEG_TOKEN"};
static const char *const groups[] = {"GROUP_HEAD", "GROUP_SCALARS", "GROUP_INPUT_EMBED",
                                     "GROUP_VALUE_EMBED", "GROUP_ATTN", "GROUP_MLP"};
static const char *const roles[] = {"ROLE_HEAD", "ROLE_SCALARS", "ROLE_INPUT_TABLE", "ROLE_VALUE_TABLE",
                                    "ROLE_QKVO", "ROLE_FC", "ROLE_PROJ"};
static const char *const optims[] = {"OPT_ADAM", "OPT_MUON"};
static const char *const spec_dtypes[] = {"DTYPE_BF16", "DTYPE_FP32"};
static const char *const optim_ops[] = {"OL_ADAM", "OL_CAST", "OL_MOMENTUM", "OL_NORM",
                                        "OL_NEWTON_SCHULZ", "OL_UPDATE", "OL_SHARE"};

const char *buildc_arg_kind(ArgKind k) { return ENUM_NAME(arg_kinds, k); }
const char *buildc_step_kind(StepKind k) { return ENUM_NAME(step_kinds, k); }

/* ---- the plan ---- */

static void buf(StrBuf *out, const PlanBuf *b, int i) {
    sb_puts(out, "    {.name = ");
    c_str(out, b->name);
    sb_printf(out, ", .cls = %s, .dtype = %s, .per_token = %" PRId64 ", .fixed = %" PRId64, ENUM_NAME(buf_classes, b->cls),
              ENUM_NAME(dtypes, b->dtype), b->per_token, b->fixed);
    if (b->cls == BUF_PARAM)
        sb_printf(out, ", .tensor = %d, .plane = %s, .tensor_off = %" PRId64, b->tensor, ENUM_NAME(planes, b->plane),
                  b->tensor_off);
    else sb_puts(out, ", .tensor = -1");
    if (b->cls == BUF_INPUT) sb_printf(out, ", .input = %s", ENUM_NAME(inputs, b->input));
    if (b->output) sb_puts(out, ", .output = true");
    sb_printf(out, ", .off_per_token = %" PRId64 ", .off_fixed = %" PRId64 ", .first = %d, .last = %d}, /* %d */\n",
              b->off_per_token, b->off_fixed, b->first, b->last, i);
}

static void arg(StrBuf *out, const PlanArg *a, bool kernel) {
    sb_puts(out, "{");
    c_str(out, a->name);
    sb_printf(out, ", %s", ENUM_NAME(arg_kinds, a->kind));
    if (kernel) sb_printf(out, ", .type = %s", ENUM_NAME(param_types, a->type));
    if (a->kind == ARG_BUF || a->id) {
        sb_printf(out, ", .id = %d", a->id);
        if (a->off_pt) sb_printf(out, ", .off_pt = %" PRId64, a->off_pt);
        if (a->off) sb_printf(out, ", .off = %" PRId64, a->off);
    }
    if (a->ival) sb_printf(out, ", .ival = %lld", a->ival);
    if (a->kind == ARG_FLOAT) sb_printf(out, ", .fval = %.17g", a->fval);
    sb_puts(out, "}");
}

static void dim(StrBuf *out, const char *name, PlanDim d) {
    sb_printf(out, ".%s = {%" PRId64 ", %" PRId64 "}", name, d.per_token, d.fixed);
}

static void step(StrBuf *out, const PlanStep *st, int i) {
    sb_printf(out, "    {.kind = %s, .what = ", ENUM_NAME(step_kinds, st->kind));
    c_str(out, st->what);
    sb_printf(out, ", .layer = %d%s,\n", st->layer, st->backward ? ", .backward = true" : "");
    if (st->kind == STEP_KERNEL) {
        sb_puts(out, "     .kernel = ");
        c_str(out, st->kernel);
        sb_printf(out, ", .kinst = %d, .kidx = %d, .rows_arg = %d, .n_arg = %d,\n", st->kinst, st->kidx, st->rows_arg,
                  st->n_arg);
    }
    if (st->kind == STEP_GEMM) {
        const PlanGemm *g = &st->gemm;
        sb_puts(out, "     .gemm = {");
        dim(out, "m", g->m);
        sb_puts(out, ", ");
        dim(out, "n", g->n);
        sb_puts(out, ", ");
        dim(out, "k", g->k);
        sb_printf(out, ", .trans_a = %d, .trans_b = %d, .lda = %lld, .ldb = %lld, .ldc = %lld, .alpha = %.9g, .beta = %.9g},\n",
                  g->trans_a, g->trans_b, g->lda, g->ldb, g->ldc, (double)g->alpha, (double)g->beta);
    }
    if (st->kind == STEP_COPY || st->kind == STEP_ZERO) {
        sb_puts(out, "     ");
        dim(out, "bytes", st->bytes);
        sb_puts(out, ",\n");
    }
    sb_printf(out, "     .nargs = %d, .args = {", st->nargs);
    for (int a = 0; a < st->nargs; a++) {
        sb_puts(out, a ? ",\n        " : "\n        ");
        arg(out, &st->args[a], st->kind == STEP_KERNEL);
    }
    sb_printf(out, "}}, /* %d */\n", i);
}

static void plan(StrBuf *out, const Plan *p) {
    sb_printf(out, "static PlanBuf bufs[%d] = {\n", p->nbufs);
    for (int i = 0; i < p->nbufs; i++) buf(out, &p->bufs[i], i);
    sb_printf(out, "};\n\nstatic PlanStep steps[%d] = {\n", p->nsteps);
    for (int i = 0; i < p->nsteps; i++) step(out, &p->steps[i], i);
    sb_puts(out, "};\n\n");
}

/* ---- the kernel set, the tensors, the optimizer ---- */

static void instance(StrBuf *out, const EmitInstance *in) {
    sb_puts(out, "        {.family = ");
    c_str(out, in->family);
    sb_puts(out, ", .tpl = ");
    c_str(out, in->tpl);
    sb_puts(out, ", .suffix = ");
    c_str(out, in->suffix);
    sb_printf(out, ", .threads = %d, .vec = %d, .width = %d, .rows_per_block = %d, .grid_blocks = %d, .grid_y = %d,\n",
              in->threads, in->vec, in->width, in->rows_per_block, in->grid_blocks, in->grid_y);
    sb_printf(out, "         .nconsts = %d, .consts = {", in->nconsts);
    for (int c = 0; c < in->nconsts; c++) {
        const EmitConst *k = &in->consts[c];
        sb_puts(out, c ? ", {" : "{");
        c_str(out, k->name);
        if (k->is_float) sb_printf(out, ", .is_float = true, .fvalue = %.17g}", k->fvalue);
        else sb_printf(out, ", %lld}", k->value);
    }
    sb_printf(out, "},\n         .nkernels = %d, .kernels = {", in->nkernels);
    for (int k = 0; k < in->nkernels; k++) {
        const EmitKernel *kn = &in->kernels[k];
        sb_puts(out, k ? ",\n             {.name = " : "\n             {.name = ");
        c_str(out, kn->name);
        sb_puts(out, ", .stem = ");
        c_str(out, kn->stem);
        if (kn->key) sb_puts(out, ", .key = "), c_str(out, kn->key);
        sb_puts(out, ",\n              .args = ");
        c_str(out, kn->args);
        sb_printf(out, ", .smem_bytes = %d}", kn->smem_bytes);
    }
    sb_puts(out, "}},\n");
}

static void tensor(StrBuf *out, const ParamTensor *t, int i) {
    sb_puts(out, "        {.name = ");
    c_str(out, t->name);
    sb_printf(out, ", .ndim = %d, .shape = {%" PRId64 ", %" PRId64 ", %" PRId64 "}, .numel = %" PRId64
                   ", .dtype = %s, .opt = %s,\n         .group = %s, .role = %s, .layer = %d, .table = %d%s}, /* %d */\n",
              t->ndim, t->shape[0], t->shape[1], t->shape[2], t->numel, ENUM_NAME(spec_dtypes, t->dtype),
              ENUM_NAME(optims, t->opt), ENUM_NAME(groups, t->group), ENUM_NAME(roles, t->role), t->layer, t->table,
              t->bf16_copy ? ", .bf16_copy = true" : "", i);
}

static void kref(StrBuf *out, const char *name, KernelRef r) { sb_printf(out, ".%s = {%d, %d}, ", name, r.inst, r.k); }

static void optim(StrBuf *out, const ModelBuild *b) {
    const OptimPlan *o = &b->optim;
    sb_puts(out, "    .optim = {");
    kref(out, "adam", o->adam);
    kref(out, "cast", o->cast);
    kref(out, "momentum", o->momentum);
    sb_puts(out, "\n              ");
    kref(out, "colsum", o->colsum);
    kref(out, "normalize", o->normalize);
    kref(out, "combine", o->combine);
    kref(out, "update", o->update);
    sb_printf(out, "\n              .adam_state = %" PRId64 ", .muon_state = %" PRId64 ", .x = %" PRId64
                   ", .square = %" PRId64 ", .partials = %" PRId64 ", .count = %" PRId64 ",\n",
              o->adam_state, o->muon_state, o->x, o->square, o->partials, o->count);
    sb_puts(out, "              .state_off = {");
    for (int i = 0; i < b->ntensors; i++) sb_printf(out, "%s%" PRId64, i ? ", " : "", o->state_off[i]);
    sb_printf(out, "},\n              .nlaunches = %d, .launches = {", o->nlaunches);
    for (int k = 0; k < o->nlaunches; k++) {
        const OptimLaunch *l = &o->launches[k];
        sb_printf(out, "%s{%s, %d, %lld}", !k ? "\n                  " : k % 4 ? ", " : ",\n                  ",
                  ENUM_NAME(optim_ops, l->op), l->tensor, l->n);
    }
    sb_puts(out, "}},\n");
}

/* The GEMM algorithms chosen, as ModelBuild's gemm array. */
static void gemm_choices(StrBuf *out, const ModelBuild *b) {
    if (!b->ngemm) return;
    sb_printf(out, ",\n    .ngemm = %d,\n    .gemm = {\n", b->ngemm);
    for (int i = 0; i < b->ngemm; i++) {
        const TuneAlgo *a = &b->gemm[i].knobs.algo;
        sb_puts(out, "        {.family = ");
        c_str(out, b->gemm[i].family);
        sb_puts(out, ", .shape = ");
        c_str(out, b->gemm[i].shape);
        sb_printf(out, ", .knobs = {.algo = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d}}},\n", a->set, a->id, a->tile,
                  a->stages, a->splitk, a->reduction, a->swizzle, a->custom, a->inner, a->cluster);
    }
    sb_puts(out, "    }");
}

void buildc_emit(const ModelBuild *b, const char *header, StrBuf *out) {
    sb_puts(out, header);
    sb_puts(out, "#include \"compiler/build.h\"\n\n/* The resolved spec, as `gptc check --json` prints it. */\nconst char gptc_build_spec[] =\n    ");
    char *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&json, &len);
    if (f) {
        spec_json(f, &b->spec, false);
        fclose(f);
    }
    c_str(out, json);
    free(json);
    sb_puts(out, ";\n\n");
    plan(out, &b->plan);
    sb_puts(out, "ModelBuild gptc_build = {\n    .model_name = ");
    c_str(out, b->model_name);
    sb_printf(out, ",\n    .ntensors = %d,\n    .tensors = {\n", b->ntensors);
    for (int i = 0; i < b->ntensors; i++) tensor(out, &b->tensors[i], i);
    sb_puts(out, "    },\n    .grad_off = {");
    for (int i = 0; i < b->ntensors; i++) sb_printf(out, "%s%" PRId64, i ? ", " : "", b->grad_off[i]);
    sb_printf(out, "},\n    .grad_total = %" PRId64 ",\n    .kernels = {.n = %d, .inst = {\n", b->grad_total, b->kernels.n);
    for (int i = 0; i < b->kernels.n; i++) instance(out, &b->kernels.inst[i]);
    sb_puts(out, "    }},\n    .kernels_sha256 = ");
    c_str(out, b->kernels_sha256);
    sb_puts(out, ",\n    .tuning = ");
    c_str(out, b->tuning);
    gemm_choices(out, b);
    sb_printf(out, ",\n    .has_plan = true,\n    .plan = {.block_size = %d, .nbufs = %d, .nsteps = %d, .nforward = %d, "
                   ".bufs = bufs, .steps = steps, .loss_buf = %d, .xs_buf = {",
              b->plan.block_size, b->plan.nbufs, b->plan.nsteps, b->plan.nforward, b->plan.loss_buf);
    for (int i = 0; i < b->spec.model.layers; i++) sb_printf(out, "%s%d", i ? ", " : "", b->plan.xs_buf[i]);
    sb_printf(out, "}, .x0_buf = %d},\n", b->plan.x0_buf);
    const ArenaLayout *a = &b->arena;
    sb_printf(out, "    .arena = {.arena_per_token = %" PRId64 ", .arena_fixed = %" PRId64 ", .total_per_token = %" PRId64
                   ", .total_fixed = %" PRId64 ", .narena = %d},\n",
              a->arena_per_token, a->arena_fixed, a->total_per_token, a->total_fixed, a->narena);
    optim(out, b);
    sb_puts(out, "};\n");
}
