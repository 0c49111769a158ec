/*
 * prune.c: static pruning from NVRTC's resource report (prune.h).
 */
#include "compiler/tune/prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tune_prune_why(const KernelRes *r, const EmitKernel *k, int threads, int min_blocks, char *buf, size_t cap) {
    if (!r) return snprintf(buf, cap, "%s: no ptxas report", k->name), buf;
    if (r->spill_store_bytes || r->spill_load_bytes)
        return snprintf(buf, cap, "%s spills %d/%d bytes", r->name, r->spill_store_bytes, r->spill_load_bytes), buf;
    if (r->stack_bytes) return snprintf(buf, cap, "%s uses %d bytes of local memory", r->name, r->stack_bytes), buf;
    if (r->smem_bytes + k->smem_bytes > PRUNE_SMEM_MAX)
        return snprintf(buf, cap, "%s needs %d bytes of shared memory", r->name, r->smem_bytes + k->smem_bytes), buf;
    if (r->registers * threads > 65536)
        return snprintf(buf, cap, "%s: %d registers x %d threads exceed an SM's 65536", r->name, r->registers,
                        threads),
               buf;
    int blocks = min_blocks > 1 ? min_blocks : 1;
    if (blocks > 1 && (r->smem_bytes + k->smem_bytes + 1024) * blocks > PRUNE_SMEM_SM)
        return snprintf(buf, cap, "%s: %d blocks of %d bytes of shared memory exceed an SM's", r->name, blocks,
                        r->smem_bytes + k->smem_bytes),
               buf;
    if (blocks > 1 && r->registers * threads * blocks > 65536)
        return snprintf(buf, cap, "%s: %d blocks of %d registers x %d threads exceed an SM's 65536", r->name, blocks,
                        r->registers, threads),
               buf;
    return NULL;
}

/* kernel `name`'s report in whichever of the n programs compiled it. */
static const KernelRes *find_res(const NvrtcOutput *out, int n, const char *name) {
    for (int c = 0; c < n; c++)
        for (int i = 0; out[c].ok && i < out[c].nkernels; i++)
            if (out[c].kernels[i].entry && !strcmp(out[c].kernels[i].name, name)) return &out[c].kernels[i];
    return NULL;
}

static bool grouped(const TuneVariant *v, bool ok_only) { return !ok_only || v->status == TUNE_OK; }

/* The kernel names rendered so far. */
typedef struct {
    int n;
    char (*name)[sizeof ((EmitKernel *)0)->name];
} Names;

static bool named(const Names *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) return true;
    return false;
}

/* Deals the variants' instances out over nsets sets (none when nsets is
 * 0), each kernel rendered once: a kernel that the rules or an earlier
 * variant already name is off, and an instance with every kernel off is
 * left out. Each instance goes to the set that renders fewest kernels so
 * far, the first on a tie, among those with room. Returns how many
 * instances are rendered. */
static int deal(const KernelSet *rules, const TuneInstance *ins, int n, bool ok_only, Names *names, KernelSet *sets,
                int nsets) {
    int rendered = 0, load[TUNE_MAX_PROGRAMS] = {0};
    names->n = 0;
    for (int i = 0; i < rules->n; i++)
        for (int k = 0; k < rules->inst[i].nkernels; k++) strcpy(names->name[names->n++], rules->inst[i].kernels[k].name);
    for (int c = 0; c < nsets; c++) sets[c].n = 0;
    for (int i = 0; i < n; i++)
        for (int j = 1; j < ins[i].n; j++) {
            if (!grouped(&ins[i].v[j], ok_only)) continue;
            EmitInstance in = rules->inst[ins[i].inst];
            tune_apply(&in, ins[i].v[j].knobs);
            int on = 0;
            for (int k = 0; k < in.nkernels; k++) {
                in.kernels[k].off = named(names, in.kernels[k].name);
                if (!in.kernels[k].off) on++, strcpy(names->name[names->n++], in.kernels[k].name);
            }
            if (!on) continue;
            rendered++;
            int best = -1;
            for (int c = 0; c < nsets; c++)
                if (sets[c].n < EMIT_MAX_INSTANCES && (best < 0 || load[c] < load[best])) best = c;
            if (best < 0) continue;
            sets[best].inst[sets[best].n++] = in;
            load[best] += on;
        }
    return rendered;
}

int tune_variant_sets(const KernelSet *rules, const TuneInstance *ins, int n, bool ok_only, KernelSet *sets, int max,
                      char *err, size_t errlen) {
    /* As many programs as NVRTC has workers here, so that every core
     * compiles one, each kernel rendered once (an attention variant that
     * changes one kernel's knobs shares the other three with other
     * variants or the rules) and spread by how many each program renders,
     * so that every core gets its share of attention's heavy kernels. */
    int cap = 0;
    for (int i = 0; i < rules->n; i++) cap += rules->inst[i].nkernels;
    for (int i = 0; i < n; i++) cap += ins[i].n * EMIT_MAX_KERNELS;
    Names names = {0, malloc(sizeof *names.name * (size_t)cap)};
    if (!names.name) return snprintf(err, errlen, "out of memory"), -1;
    int total = deal(rules, ins, n, ok_only, &names, sets, 0), workers = nvrtc_workers_here();
    int nsets = total < workers ? total : workers;
    if (nsets * EMIT_MAX_INSTANCES < total) nsets = (total + EMIT_MAX_INSTANCES - 1) / EMIT_MAX_INSTANCES;
    if (max > TUNE_MAX_PROGRAMS) max = TUNE_MAX_PROGRAMS;
    if (nsets > max) nsets = -1, snprintf(err, errlen, "more than %d programs of variants", max);
    else deal(rules, ins, n, ok_only, &names, sets, nsets);
    free(names.name);
    return nsets;
}

/* Whether `name` is one of the rule's kernels, which candidate 0 answers
 * for and no variant program renders. */
static bool rule_kernel(const EmitInstance *rule, const char *name) {
    for (int k = 0; k < rule->nkernels; k++)
        if (!strcmp(rule->kernels[k].name, name)) return true;
    return false;
}

bool tune_prune(const KernelSet *rules, TuneInstance *ins, int n, const char *arch, char *err, size_t errlen) {
    if (!nvrtc_load(err, errlen)) return false;
    static KernelSet sets[TUNE_MAX_PROGRAMS];
    static NvrtcOutput out[TUNE_MAX_PROGRAMS];
    int nsets = tune_variant_sets(rules, ins, n, false, sets, TUNE_MAX_PROGRAMS, err, errlen);
    if (nsets < 0) return false;
    StrBuf src[TUNE_MAX_PROGRAMS] = {{0}};
    NvrtcHeader headers[NVRTC_MAX_HEADERS];
    NvrtcJob jobs[TUNE_MAX_PROGRAMS];
    int nheaders = nvrtc_template_headers(headers, NVRTC_MAX_HEADERS);
    bool ok = true, failed = false;
    for (int c = 0; c < nsets && ok; c++) {
        ok = emit_kernels(&sets[c], &src[c], err, errlen);
        jobs[c] = (NvrtcJob){"variants.cu", sb_str(&src[c]), headers, nheaders, arch, false};
    }
    if (ok) nvrtc_compile_all(jobs, nsets, &(NvrtcConfig){nvrtc_workers_here(), NULL}, out);
    for (int c = 0; ok && c < nsets; c++) failed = failed || !out[c].ok;
    for (int i = 0; ok && i < n; i++)
        for (int j = 1; j < ins[i].n; j++) {
            TuneVariant *v = &ins[i].v[j];
            const EmitInstance *rule = &rules->inst[ins[i].inst];
            EmitInstance in = *rule;
            tune_apply(&in, v->knobs);
            const char *why = NULL;
            for (int k = 0; !why && k < in.nkernels; k++) {
                if (rule_kernel(rule, in.kernels[k].name)) continue;
                const KernelRes *r = find_res(out, nsets, in.kernels[k].name);
                why = !r && failed ? TUNE_NO_COMPILE
                                   : tune_prune_why(r, &in.kernels[k], in.threads, v->knobs.minb, v->why, sizeof v->why);
            }
            if (why) {
                if (why != v->why) snprintf(v->why, sizeof v->why, "%s", why);
                v->status = TUNE_PRUNED;
            }
        }
    for (int c = 0; c < nsets; c++) {
        if (ok) nvrtc_output_free(&out[c]);
        sb_free(&src[c]);
    }
    return ok;
}
