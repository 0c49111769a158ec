/*
 * resume.c: the comparison --resume makes (resume.h).
 *
 * The spec is compared key by key through spec_diff, on the values
 * `gptc check --json` prints, so a difference reads as the user wrote it
 * and the undo hint can pass the old value back through --set unchanged.
 */
#include "runtime/train/resume.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/json.h"
#include "compiler/lang/spec_json.h"

static void add(RunChanges *c, const char *key, const char *old, const char *now, bool refused) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        RunChange *v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    RunChange *r = &c->v[c->n];
    r->key = strdup(key);
    r->old = strdup(old);
    r->now = strdup(now);
    r->refused = refused;
    if (!r->key || !r->old || !r->now) {
        free(r->key), free(r->old), free(r->now);
        c->oom = true;
        return;
    }
    c->n++;
}

/* The description is free text for people; every other key shapes the run. */
static void spec_change(void *ctx, const char *key, const char *old, const char *now) {
    add(ctx, key, old, now, strcmp(key, "description") != 0);
}

static void add_int(RunChanges *c, const char *key, int64_t old, int64_t now, bool refused) {
    if (old == now) return;
    char a[32], b[32];
    snprintf(a, sizeof a, "%" PRId64, old);
    snprintf(b, sizeof b, "%" PRId64, now);
    add(c, key, a, b, refused);
}

static void add_str(RunChanges *c, const char *key, const char *old, const char *now, bool refused) {
    if (!strcmp(old, now)) return;
    char a[64], b[64];
    snprintf(a, sizeof a, "\"%s\"", old);
    snprintf(b, sizeof b, "\"%s\"", now);
    add(c, key, a, b, refused);
}

bool resume_compare(const ModelSpec *old_spec, const CkptMeta *old, const ModelSpec *now_spec,
                    const CkptMeta *now, RunChanges *out) {
    memset(out, 0, sizeof *out);
    if (spec_diff(old_spec, now_spec, spec_change, out) < 0) out->oom = true;
    add_int(out, "ranks", old->nranks, now->nranks, true);
    add_int(out, "train data shards", old->data_shards, now->data_shards, true);
    add_int(out, "train data tokens", old->data_tokens, now->data_tokens, true);
    add_str(out, "executor", old->executor, now->executor, false);
    /* Other kernel variants: the same model, summed in another order. */
    add_str(out, "kernel tuning", old->tuning, now->tuning, true);
    add_int(out, "threads", old->threads, now->threads, false);
    return !out->oom;
}

int resume_refused(const RunChanges *c) {
    int n = 0;
    for (int i = 0; i < c->n; i++) n += c->v[i].refused;
    return n;
}

/* The option that brings a change back to the run's own value; false when
 * no option can (other data, another description). */
static bool undo_option(FILE *f, const RunChange *r) {
    if (!strcmp(r->key, "ranks")) fprintf(f, " --ranks %s", r->old);
    else if (!strcmp(r->key, "executor")) fprintf(f, " --backend %.*s", (int)strlen(r->old) - 2, r->old + 1);
    else if (!strcmp(r->key, "threads")) fprintf(f, " --threads %s", r->old);
    else if (strchr(r->key, '.') && strcmp(r->key, "description")) fprintf(f, " --set '%s=%s'", r->key, r->old);
    else return false;
    return true;
}

static void change_line(FILE *f, const RunChange *r) {
    fprintf(f, "  %s: %s -> %s%s\n", r->key, r->old, r->now,
            r->refused ? "" : " (allowed; reported)");
}

void resume_refusal(FILE *f, const RunChanges *c, const char *run_dir) {
    fprintf(f, "--resume: %s was made with other settings; resuming would change %d of them:\n",
            run_dir, resume_refused(c));
    for (int i = 0; i < c->n; i++) change_line(f, &c->v[i]);
    fputs("To resume with these changes, add --accept-changes (they are recorded in metrics.jsonl).\n"
          "To resume as the run was made, undo them:", f);
    bool data = false, tuning = false;
    for (int i = 0; i < c->n; i++) {
        if (!c->v[i].refused || undo_option(f, &c->v[i])) continue;
        if (!strcmp(c->v[i].key, "kernel tuning")) tuning = true;
        else data = true;
    }
    if (data) fputs("\n(and give it the training data it was started with)", f);
    if (tuning) fputs("\n(and build its kernels with the tuning choices it was started with)", f);
}

void resume_report(FILE *f, const RunChanges *c, bool accepted) {
    for (int i = 0; i < c->n; i++) {
        const RunChange *r = &c->v[i];
        fprintf(f, "gptc train: resuming with %s: %s -> %s%s\n", r->key, r->old, r->now,
                r->refused && accepted ? " (accepted)" : "");
    }
}

void resume_changes_json(FILE *f, const RunChanges *c) {
    fputc('[', f);
    for (int i = 0; i < c->n; i++) {
        const RunChange *r = &c->v[i];
        fprintf(f, "%s{\"key\": ", i ? ", " : "");
        json_str(f, r->key, strlen(r->key));
        fprintf(f, ", \"old\": %s, \"new\": %s, \"how\": \"%s\"}", r->old, r->now,
                r->refused ? "accepted" : "reported");
    }
    fputc(']', f);
}

void resume_free(RunChanges *c) {
    for (int i = 0; i < c->n; i++) free(c->v[i].key), free(c->v[i].old), free(c->v[i].now);
    free(c->v);
    memset(c, 0, sizeof *c);
}
