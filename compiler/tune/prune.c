/*
 * prune.c: static pruning from NVRTC's resource report (prune.h).
 */
#include "compiler/tune/prune.h"

#include <stdio.h>
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

static const KernelRes *find_res(const NvrtcOutput *o, const char *name) {
    for (int i = 0; i < o->nkernels; i++)
        if (o->kernels[i].entry && !strcmp(o->kernels[i].name, name)) return &o->kernels[i];
    return NULL;
}

static bool grouped(const TuneVariant *v, bool ok_only) { return !ok_only || v->status == TUNE_OK; }

int tune_variant_sets(const KernelSet *rules, const TuneInstance *ins, int n, bool ok_only, KernelSet *sets, int max,
                      int (*where)[TUNE_MAX_CANDIDATES]) {
    /* As many programs as NVRTC has workers here, so that every core
     * compiles one, the variants dealt out in turn, so that each program
     * gets its share of the heavy ones (an attention variant is four large
     * kernels; sixteen of them in one program kept most cores idle). */
    int total = 0, workers = nvrtc_workers_here();
    for (int i = 0; i < n; i++)
        for (int j = 1; j < ins[i].n; j++) total += grouped(&ins[i].v[j], ok_only);
    int nsets = total < workers ? total : workers;
    if (nsets * EMIT_MAX_INSTANCES < total) nsets = (total + EMIT_MAX_INSTANCES - 1) / EMIT_MAX_INSTANCES;
    if (nsets > max) return -1;
    for (int c = 0; c < nsets; c++) sets[c].n = 0;
    for (int i = 0, v = 0; i < n; i++)
        for (int j = 1; j < ins[i].n; j++) {
            if (!grouped(&ins[i].v[j], ok_only)) continue;
            KernelSet *s = &sets[v % nsets];
            s->inst[s->n] = rules->inst[ins[i].inst];
            tune_apply(&s->inst[s->n++], ins[i].v[j].knobs);
            if (where) where[i][j] = v % nsets;
            v++;
        }
    return nsets;
}

bool tune_prune(const KernelSet *rules, TuneInstance *ins, int n, const char *arch, char *err, size_t errlen) {
    if (!nvrtc_load(err, errlen)) return false;
    static KernelSet sets[TUNE_MAX_PROGRAMS];
    static int where[EMIT_MAX_INSTANCES][TUNE_MAX_CANDIDATES];
    static NvrtcOutput out[TUNE_MAX_PROGRAMS];
    int nsets = tune_variant_sets(rules, ins, n, false, sets, TUNE_MAX_PROGRAMS, where);
    if (nsets < 0) return snprintf(err, errlen, "more than %d programs of variants", TUNE_MAX_PROGRAMS), false;
    StrBuf src[TUNE_MAX_PROGRAMS] = {{0}};
    NvrtcHeader headers[NVRTC_MAX_HEADERS];
    NvrtcJob jobs[TUNE_MAX_PROGRAMS];
    int nheaders = nvrtc_template_headers(headers, NVRTC_MAX_HEADERS);
    bool ok = true;
    for (int c = 0; c < nsets && ok; c++) {
        ok = emit_kernels(&sets[c], &src[c], err, errlen);
        jobs[c] = (NvrtcJob){"variants.cu", sb_str(&src[c]), headers, nheaders, arch, false};
    }
    if (ok) nvrtc_compile_all(jobs, nsets, &(NvrtcConfig){nvrtc_workers_here(), NULL}, out);
    for (int i = 0; ok && i < n; i++)
        for (int j = 1; j < ins[i].n; j++) {
            TuneVariant *v = &ins[i].v[j];
            const NvrtcOutput *o = &out[where[i][j]];
            EmitInstance in = rules->inst[ins[i].inst];
            tune_apply(&in, v->knobs);
            const char *why = o->ok ? NULL : TUNE_NO_COMPILE;
            for (int k = 0; !why && k < in.nkernels; k++)
                why = tune_prune_why(find_res(o, in.kernels[k].name), &in.kernels[k], in.threads, v->knobs.minb, v->why,
                                     sizeof v->why);
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
