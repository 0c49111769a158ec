/*
 * fuse.c: the kernel side of the plan (see lower.h): which kernel computes
 * a fused group, the check that binds every argument by the kernel's own
 * parameter names, and the launch and memory-traffic counts of the plan
 * against the unfused one (one launch per elementary op, every
 * intermediate stored and read back).
 */
#include <stdio.h>
#include <string.h>

#include "emit.h"
#include "lower.h"

static bool from_emit(const ModelSpec *s, const char *stem, int width, PlanStep *st) {
    EmitPlan ep;
    emit_plan(s, &ep);
    size_t n = strlen(stem);
    for (int i = 0; i < ep.n; i++) {
        const EmitInstance *in = &ep.inst[i];
        if (width && in->width != width) continue;
        for (int k = 0; k < in->nkernels; k++) {
            const char *name = in->kernels[k].name;
            if (strncmp(name, stem, n) || name[n] != '_' || strlen(name + n + 1) != strlen(in->suffix) ||
                strcmp(name + n + 1, in->suffix))
                continue;
            snprintf(st->kernel, sizeof st->kernel, "%s", name);
            st->stem = stem;
            st->params = in->kernels[k].args;
            st->threads = in->threads, st->rows_per_block = in->rows_per_block;
            st->grid_blocks = in->grid_blocks, st->vec = in->vec, st->width = in->width;
            st->grid_y = in->grid_y, st->smem_bytes = in->kernels[k].smem_bytes;
            return true;
        }
    }
    return false;
}

bool fuse_find_kernel(const ModelSpec *s, const char *stem, int width, PlanStep *st) {
    return from_emit(s, stem, width, st);
}

/* ---- parameter lists ---- */

static ParamType decl_type(const char *decl, size_t len) {
    if (memchr(decl, '*', len)) return PT_PTR;
    if (len >= 9 && !strncmp(decl, "long long", 9)) return PT_LL;
    if (len >= 5 && !strncmp(decl, "float", 5)) return PT_FLOAT;
    return PT_INT;
}

/* The element type a pointer parameter points to. */
static PlanDtype decl_dtype(const char *decl) {
    if (strstr(decl, "__nv_bfloat16")) return PD_BF16;
    if (strstr(decl, "float")) return PD_F32;
    return PD_I32;
}

static int split(const char *list, const char **starts, size_t *lens, int max) {
    int n = 0;
    for (const char *p = list; *p && n < max;) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && p[len - 1] == ' ') len--;
        starts[n] = p, lens[n] = len, n++;
        if (!e) break;
        p = e + 1;
    }
    return n;
}

int fuse_params(const char *list, char names[][32], ParamType *types, int max) {
    const char *starts[32];
    size_t lens[32];
    int n = split(list, starts, lens, max < 32 ? max : 32);
    for (int i = 0; i < n; i++) {
        size_t e = lens[i], b = e;
        while (b > 0 && (starts[i][b - 1] == '_' || (starts[i][b - 1] >= 'a' && starts[i][b - 1] <= 'z') ||
                         (starts[i][b - 1] >= 'A' && starts[i][b - 1] <= 'Z') ||
                         (starts[i][b - 1] >= '0' && starts[i][b - 1] <= '9')))
            b--;
        snprintf(names[i], 32, "%.*s", (int)(e - b), starts[i] + b);
        types[i] = decl_type(starts[i], lens[i]);
    }
    return n;
}

static bool kind_fits(ArgKind k, ParamType t) {
    switch (k) {
    case ARG_BUF:
    case ARG_NULL: return t == PT_PTR;
    case ARG_FLOAT:
    case ARG_INV_ROWS: return t == PT_FLOAT;
    case ARG_INT:
    case ARG_ROWS:
    case ARG_WINDOW:
    case ARG_NSEG: return t == PT_INT || t == PT_LL;
    }
    return false;
}

static bool check_step(const Plan *p, int si, char *err, size_t errlen) {
    const PlanStep *st = &p->steps[si];
    char names[32][32];
    ParamType types[32];
    const char *starts[32];
    size_t lens[32];
    int n = fuse_params(st->params, names, types, 32);
    split(st->params, starts, lens, 32);
    for (int a = 0; a < st->nargs; a++) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++)
            if (!strcmp(names[i], st->args[a].name)) found = i;
        if (found < 0) {
            snprintf(err, errlen, "step %d (%s): kernel %s has no parameter '%s' (parameters: %s)", si, st->what,
                     st->kernel, st->args[a].name, st->params);
            return false;
        }
        if (!kind_fits(st->args[a].kind, types[found])) {
            snprintf(err, errlen, "step %d (%s): parameter '%s' of %s bound to a value of the wrong kind", si,
                     st->what, names[found], st->kernel);
            return false;
        }
        const PlanBuf *b = st->args[a].kind == ARG_BUF ? &p->bufs[st->args[a].id] : NULL;
        char decl[128];
        snprintf(decl, sizeof decl, "%.*s", (int)lens[found], starts[found]);
        /* Pending families are checked by name only: the contracts
         * disagree on one dtype (qkv_bwd's fp32 dve, embed_bwd's bf16
         * drows), which the coordinator settles when they merge. */
        if (b && decl_dtype(decl) != b->dtype) {
            snprintf(err, errlen, "step %d (%s): parameter '%s' of %s is %s, bound to %s buffer %s", si, st->what,
                     names[found], st->kernel, decl, plan_dtype_name(b->dtype), b->name);
            return false;
        }
        for (int b2 = 0; b2 < a; b2++)
            if (!strcmp(st->args[b2].name, st->args[a].name)) {
                snprintf(err, errlen, "step %d (%s): parameter '%s' of %s bound twice", si, st->what,
                         st->args[a].name, st->kernel);
                return false;
            }
    }
    for (int i = 0; i < n; i++) {
        bool bound = false;
        for (int a = 0; a < st->nargs && !bound; a++) bound = !strcmp(names[i], st->args[a].name);
        if (!bound) {
            snprintf(err, errlen, "step %d (%s): parameter '%s' of %s is not bound", si, st->what, names[i],
                     st->kernel);
            return false;
        }
    }
    return true;
}

bool fuse_check(const Plan *p, char *err, size_t errlen) {
    for (int i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == STEP_KERNEL && !check_step(p, i, err, errlen)) return false;
    return true;
}

/* ---- traffic ---- */

static int64_t ref_bytes(const Plan *p, OpRef r, int64_t T) {
    return (r.per_token * T + r.fixed) * plan_dtype_bytes(p->bufs[r.buf].dtype);
}

/* Adds r to a set of (buffer, bytes) keeping the largest part per buffer. */
static void note(int *bufs, int64_t *bytes, int *n, int buf, int64_t b) {
    for (int i = 0; i < *n; i++)
        if (bufs[i] == buf) {
            if (b > bytes[i]) bytes[i] = b;
            return;
        }
    bufs[*n] = buf, bytes[*n] = b, ++*n;
}

/* A fused step reads what its ops take from outside it and writes what it
 * stores: intermediates between its ops never reach memory. */
static int64_t step_bytes(const Plan *p, const PlanStep *st, int64_t T) {
    int rb[PLAN_MAX_OPS * PLAN_MAX_REFS], wb[PLAN_MAX_OPS * PLAN_MAX_REFS], nr = 0, nw = 0;
    int64_t rbytes[PLAN_MAX_OPS * PLAN_MAX_REFS], wbytes[PLAN_MAX_OPS * PLAN_MAX_REFS];
    for (int j = 0; j < st->nops; j++) {
        const PlanOp *o = &st->ops[j];
        for (int r = 0; r < o->nin; r++) {
            bool inside = false;
            for (int j2 = 0; j2 < j && !inside; j2++)
                for (int w = 0; w < st->ops[j2].nout; w++) inside |= st->ops[j2].out[w].buf == o->in[r].buf;
            if (!inside && p->bufs[o->in[r].buf].cls != BUF_INTERNAL)
                note(rb, rbytes, &nr, o->in[r].buf, ref_bytes(p, o->in[r], T));
        }
        for (int w = 0; w < o->nout; w++)
            if (p->bufs[o->out[w].buf].cls != BUF_INTERNAL)
                note(wb, wbytes, &nw, o->out[w].buf, ref_bytes(p, o->out[w], T));
    }
    int64_t sum = 0;
    for (int i = 0; i < nr; i++) sum += rbytes[i];
    for (int i = 0; i < nw; i++) sum += wbytes[i];
    return sum;
}

void fuse_stats(const Plan *p, int64_t T, PlanStats *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        out->launches++;
        out->bytes += step_bytes(p, st, T);
        for (int j = 0; j < st->nops; j++) {
            const PlanOp *o = &st->ops[j];
            out->unfused_launches++;
            for (int r = 0; r < o->nin; r++) out->unfused_bytes += ref_bytes(p, o->in[r], T);
            for (int r = 0; r < o->nout; r++) out->unfused_bytes += ref_bytes(p, o->out[r], T);
        }
    }
}
