/*
 * bind.c: kernels bound to a plan's steps (see bind.h).
 */
#include "compiler/plan/bind.h"

#include <stdio.h>
#include <string.h>

bool bind_kernel(const KernelSet *ks, const char *stem, int width, PlanStep *st) {
    for (int i = 0; i < ks->n; i++) {
        const EmitInstance *in = &ks->inst[i];
        if (width && in->width != width) continue;
        for (int k = 0; k < in->nkernels; k++) {
            if (strcmp(in->kernels[k].stem, stem)) continue;
            snprintf(st->kernel, sizeof st->kernel, "%s", in->kernels[k].name);
            st->kinst = i, st->kidx = k;
            return true;
        }
    }
    return false;
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

static bool ident_char(char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int bind_params(const char *list, char names[][32], ParamType *types, int max) {
    const char *starts[32];
    size_t lens[32];
    int n = split(list, starts, lens, max < 32 ? max : 32);
    for (int i = 0; i < n; i++) {
        size_t e = lens[i], b = e;
        while (b > 0 && ident_char(starts[i][b - 1])) b--;
        snprintf(names[i], 32, "%.*s", (int)(e - b), starts[i] + b);
        types[i] = decl_type(starts[i], lens[i]);
    }
    return n;
}

/* ---- checking and placing ---- */

static bool kind_fits(ArgKind k, ParamType t) {
    switch (k) {
    case ARG_BUF:
    case ARG_NULL: return t == PT_PTR;
    case ARG_FLOAT:
    case ARG_INV_ROWS: return t == PT_FLOAT;
    case ARG_INT:
    case ARG_ROWS:
    case ARG_WINDOW:
    case ARG_NSEG:
    case ARG_DS_SLOTS: return t == PT_INT || t == PT_LL;
    }
    return false;
}

/* Parameter i of the step's kernel: its name, type and declaration. */
typedef struct {
    int n;
    char names[32][32];
    ParamType types[32];
    char decls[32][128];
} Params;

static void kernel_params(const KernelSet *ks, const PlanStep *st, Params *out) {
    const char *list = ks->inst[st->kinst].kernels[st->kidx].args, *starts[32];
    size_t lens[32];
    out->n = bind_params(list, out->names, out->types, 32);
    split(list, starts, lens, 32);
    for (int i = 0; i < out->n; i++) snprintf(out->decls[i], sizeof out->decls[i], "%.*s", (int)lens[i], starts[i]);
}

/* Argument a against its parameter: known, of its kind, of its element type. */
static int match(const Plan *p, int si, const Params *k, const PlanArg *a, char *err, size_t errlen) {
    const PlanStep *st = &p->steps[si];
    int found = -1;
    for (int i = 0; i < k->n && found < 0; i++)
        if (!strcmp(k->names[i], a->name)) found = i;
    if (found < 0)
        return snprintf(err, errlen, "step %d (%s): kernel %s has no parameter '%s'", si, st->what, st->kernel,
                        a->name),
               -1;
    if (!kind_fits(a->kind, k->types[found]))
        return snprintf(err, errlen, "step %d (%s): parameter '%s' of %s bound to a value of the wrong kind", si,
                        st->what, a->name, st->kernel),
               -1;
    const PlanBuf *b = a->kind == ARG_BUF ? &p->bufs[a->id] : NULL;
    if (b && decl_dtype(k->decls[found]) != b->dtype)
        return snprintf(err, errlen, "step %d (%s): parameter '%s' of %s is %s, bound to %s buffer %s", si, st->what,
                        a->name, st->kernel, k->decls[found], plan_dtype_name(b->dtype), b->name),
               -1;
    return found;
}

static bool bind_step(Plan *p, int si, const KernelSet *ks, char *err, size_t errlen) {
    PlanStep *st = &p->steps[si];
    Params k;
    kernel_params(ks, st, &k);
    PlanArg placed[PLAN_MAX_ARGS];
    bool bound[32] = {false};
    if (k.n > PLAN_MAX_ARGS)
        return snprintf(err, errlen, "kernel %s has %d parameters (at most %d)", st->kernel, k.n, PLAN_MAX_ARGS),
               false;
    for (int a = 0; a < st->nargs; a++) {
        int i = match(p, si, &k, &st->args[a], err, errlen);
        if (i < 0) return false;
        if (bound[i])
            return snprintf(err, errlen, "step %d (%s): parameter '%s' of %s bound twice", si, st->what,
                            k.names[i], st->kernel),
                   false;
        bound[i] = true;
        placed[i] = st->args[a];
        placed[i].type = k.types[i];
    }
    st->rows_arg = st->n_arg = -1;
    for (int i = 0; i < k.n; i++) {
        if (!bound[i])
            return snprintf(err, errlen, "step %d (%s): parameter '%s' of %s is not bound", si, st->what,
                            k.names[i], st->kernel),
                   false;
        if (!strcmp(k.names[i], "rows")) st->rows_arg = i;
        if (!strcmp(k.names[i], "n")) st->n_arg = i;
    }
    memcpy(st->args, placed, sizeof *placed * (size_t)k.n);
    st->nargs = k.n;
    return true;
}

bool bind_plan(Plan *p, const KernelSet *ks, char *err, size_t errlen) {
    for (int i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == STEP_KERNEL && !bind_step(p, i, ks, err, errlen)) return false;
    return true;
}
