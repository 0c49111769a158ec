/*
 * schedule.c: writes the plan as C data (see schedule.h). One table of
 * buffers, one of kernel arguments (each bound by the kernel parameter's
 * name), one of steps pointing into the arguments. Numbers only, plus the
 * names gptc itself made (buffers, kernels, parameters): nothing from the
 * YAML's free text.
 */
#include "schedule.h"

#include <stdio.h>

const char *schedule_arg_kind(ArgKind k) {
    static const char *const n[] = {"buf", "null", "int", "float", "rows", "inv_rows", "window", "nseg"};
    return n[k];
}

const char *schedule_step_kind(StepKind k) {
    static const char *const n[] = {"kernel", "gemm", "copy", "zero"};
    return n[k];
}

const char *schedule_buf_class(BufClass c) {
    static const char *const n[] = {"arena", "input", "param", "internal"};
    return n[c];
}

const char *schedule_plane(ParamPlane pl) {
    static const char *const n[] = {"fp32", "hi", "bf16copy", "grad"};
    return n[pl];
}

static void types(StrBuf *out) {
    sb_puts(out,
            "/* Sizes and offsets are rules in T (tokens this step): elements\n"
            " * per_token * T + fixed; arena offsets in bytes off_per_token * T +\n"
            " * off_fixed. first/last: the steps that first write and last read a\n"
            " * buffer (-1: never touched). */\n"
            "typedef struct {\n"
            "    const char *name, *cls, *dtype;\n"
            "    long long per_token, fixed, off_per_token, off_fixed;\n"
            "    int tensor;        /* param: index in params_list, else -1 */\n"
            "    const char *plane; /* param: fp32 master, hi (bf16), bf16copy, grad */\n"
            "    long long tensor_off;\n"
            "    int first, last;\n"
            "} GptcSchedBuf;\n\n"
            "/* A kernel argument bound by parameter name: buf (buffer + element\n"
            " * offset off_per_token * T + off), null, int/float constants, rows (T *\n"
            " * ival), inv_rows (1 / T), window (window blocks of layer ival at the\n"
            " * step, spec_window_blocks), nseg (embedding segments of the ids).\n"
            " * GEMM steps bind a, b, c; copy binds dst, src; zero binds dst. */\n"
            "typedef struct {\n"
            "    const char *param, *kind;\n"
            "    int buf;\n"
            "    long long off_per_token, off, ival;\n"
            "    double fval;\n"
            "} GptcSchedArg;\n\n"
            "/* kernel: launch with threads per block, grid_y (0: 1), and grid_blocks\n"
            " * > 0 blocks, else ceil(rows / rows_per_block), else ceil(rows * width /\n"
            " * (threads * vec)). gemm: C = alpha op(A) op(B) + beta C with m, n, k as\n"
            " * size rules. copy/zero: bytes_per_token * T + bytes. smem_bytes: dynamic\n"
            " * shared memory per block. */\n"
            "typedef struct {\n"
            "    const char *kind, *kernel, *what;\n"
            "    int layer, backward, smem_bytes;\n"
            "    int threads, rows_per_block, grid_blocks, grid_y, vec, width;\n"
            "    long long m_per_token, m, n_per_token, n, k_per_token, k;\n"
            "    int trans_a, trans_b;\n"
            "    long long lda, ldb, ldc;\n"
            "    float alpha, beta;\n"
            "    long long bytes_per_token, bytes;\n"
            "    int first_arg, nargs;\n"
            "} GptcSchedStep;\n\n");
}

void schedule_emit(const Plan *p, const BufPlanSize *size, const char *header, StrBuf *out) {
    sb_puts(out, header);
    int nargs = 0;
    for (int i = 0; i < p->nsteps; i++) nargs += p->steps[i].nargs;
    sb_printf(out,
              "#define GPTC_SCHED_BUFS %d\n#define GPTC_SCHED_ARGS %d\n#define GPTC_SCHED_STEPS %d\n"
              "#define GPTC_SCHED_FORWARD_STEPS %d /* steps [0, this) are the forward pass */\n"
              "#define GPTC_SCHED_LOSS_BUF %d\n"
              "/* The arena: ARENA_PER_TOKEN * T + ARENA_FIXED bytes (no reuse: TOTAL_*). */\n"
              "#define GPTC_SCHED_ARENA_PER_TOKEN %lldLL\n#define GPTC_SCHED_ARENA_FIXED %lldLL\n"
              "#define GPTC_SCHED_TOTAL_PER_TOKEN %lldLL\n#define GPTC_SCHED_TOTAL_FIXED %lldLL\n\n",
              p->nbufs, nargs, p->nsteps, p->nforward, p->loss_buf, (long long)size->arena_per_token,
              (long long)size->arena_fixed, (long long)size->total_per_token, (long long)size->total_fixed);
    types(out);
    sb_puts(out, "static const GptcSchedBuf gptc_sched_bufs[GPTC_SCHED_BUFS] = {\n");
    for (int i = 0; i < p->nbufs; i++) {
        const PlanBuf *b = &p->bufs[i];
        sb_printf(out, "    {\"%s\", \"%s\", \"%s\", %lld, %lld, %lld, %lld, %d, \"%s\", %lld, %d, %d}, /* %d */\n",
                  b->name, schedule_buf_class(b->cls), plan_dtype_name(b->dtype), (long long)b->per_token,
                  (long long)b->fixed, (long long)b->off_per_token, (long long)b->off_fixed, b->tensor,
                  b->cls == BUF_PARAM ? schedule_plane(b->plane) : "", (long long)b->tensor_off, b->first, b->last,
                  i);
    }
    sb_puts(out, "};\n\nstatic const GptcSchedArg gptc_sched_args[GPTC_SCHED_ARGS] = {\n");
    for (int i = 0; i < p->nsteps; i++)
        for (int a = 0; a < p->steps[i].nargs; a++) {
            const PlanArg *g = &p->steps[i].args[a];
            sb_printf(out, "    {\"%s\", \"%s\", %d, %lld, %lld, %lld, %.17g}, /* step %d */\n", g->name,
                      schedule_arg_kind(g->kind), g->kind == ARG_BUF ? g->id : -1, (long long)g->off_pt,
                      (long long)g->off, g->ival, g->fval, i);
        }
    sb_puts(out, "};\n\nstatic const GptcSchedStep gptc_sched_steps[GPTC_SCHED_STEPS] = {\n");
    int first = 0;
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *s = &p->steps[i];
        const PlanGemm *g = &s->gemm;
        sb_printf(out,
                  "    {\"%s\", \"%s\", \"%s\", %d, %d, %d, %d, %d, %d, %d, %d, %d, %lld, %lld, %lld, %lld, %lld, "
                  "%lld, %d, %d, %lld, %lld, %lld, %.9g, %.9g, %lld, %lld, %d, %d}, /* %d */\n",
                  schedule_step_kind(s->kind), s->kind == STEP_KERNEL ? s->kernel : "", s->what, s->layer,
                  s->backward, s->smem_bytes, s->threads, s->rows_per_block, s->grid_blocks, s->grid_y, s->vec,
                  s->width, (long long)g->m.per_token, (long long)g->m.fixed, (long long)g->n.per_token,
                  (long long)g->n.fixed, (long long)g->k.per_token, (long long)g->k.fixed, g->trans_a, g->trans_b,
                  g->lda, g->ldb, g->ldc, (double)g->alpha, (double)g->beta, (long long)s->bytes.per_token,
                  (long long)s->bytes.fixed, first, s->nargs, i);
        first += s->nargs;
    }
    sb_puts(out, "};\n");
}
