/*
 * runlog.c: train.log, metrics.jsonl and the progress display (runlog.h).
 * Every line is flushed when written, so a crash or a kill loses nothing
 * that was reported, and `tail -f` shows the run as it goes.
 */
#include "runtime/train/runlog.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/util/json.h"
#include "compiler/lang/spec_json.h"

struct RunLog {
    FILE *log, *metrics;
    bool progress;  /* per-step progress on stderr */
    bool bar;       /* as a bar, on a terminal */
    bool bar_shown; /* the bar is on screen and must be cleared first */
    int plain_every;
    double last_val;
};

static FILE *open_in(const char *dir, const char *name, bool append, char *err, size_t errcap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
    return f;
}

RunLog *runlog_open(const char *dir, bool append, bool progress, int steps, char *err,
                    size_t errcap) {
    RunLog *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    r->log = open_in(dir, "train.log", append, err, errcap);
    r->metrics = r->log ? open_in(dir, "metrics.jsonl", append, err, errcap) : NULL;
    if (!r->metrics) {
        runlog_close(r);
        return NULL;
    }
    r->progress = progress;
    r->bar = progress && isatty(STDERR_FILENO);
    r->plain_every = steps >= 20 ? steps / 20 : 1;
    r->last_val = -1;
    return r;
}

void runlog_close(RunLog *r) {
    if (!r) return;
    if (r->bar_shown) fputc('\n', stderr);
    if (r->log) fclose(r->log);
    if (r->metrics) fclose(r->metrics);
    free(r);
}

static void clear_bar(RunLog *r) {
    if (r->bar_shown) fputs("\r\033[K", stderr);
    r->bar_shown = false;
}

void runlog_say(RunLog *r, const char *fmt, ...) {
    clear_bar(r);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

char *runlog_record(const RunRecord *rec) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fprintf(f, "{\"kind\": \"run\", \"event\": \"%s\", \"step\": %d, \"backend\": \"%s\", "
               "\"params\": %zu, \"manifest\": ",
            rec->resume ? "resume" : "start", rec->step, rec->run->executor, rec->params);
    manifest_json(f, rec->run);
    if (rec->changes) {
        fputs(", \"changes\": ", f);
        resume_changes_json(f, rec->changes);
    }
    fputs(", \"spec\": ", f);
    spec_json(f, rec->spec, false);
    fputc('}', f);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

void runlog_line(RunLog *r, const char *line) {
    fprintf(r->metrics, "%s\n", line);
    fflush(r->metrics);
}

void runlog_data_wrap(RunLog *r, int step, int epoch) {
    fprintf(r->metrics, "{\"kind\": \"data\", \"event\": \"repeat\", \"step\": %d, \"epoch\": %d}\n",
            step, epoch);
    fflush(r->metrics);
    runlog_say(r, "gptc train: the training data ran out after step %d; starting it again "
                  "(pass %d, train.data.repeat)", step, epoch + 1);
}

static void fmt_eta(char *buf, size_t n, double seconds) {
    int s = seconds > 0 && seconds < 1e7 ? (int)(seconds + 0.5) : 0;
    if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%d:%02d", s / 60, s % 60);
}

static void show_progress(RunLog *r, const TrainPoint *p) {
    if (!r->progress) return;
    char eta[32], val[32] = "";
    fmt_eta(eta, sizeof eta, (p->stop_at - p->step) * p->train_ms / 1000.0 / p->step);
    if (r->last_val >= 0) snprintf(val, sizeof val, " val %.4f", r->last_val);
    if (r->bar) {
        char bar[21];
        int fill = (int)(20.0 * p->step / p->steps);
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r\033[Kstep %d/%d [%s] loss %.4f%s | %.0f tok/s | ETA %s", p->step,
                p->steps, bar, p->loss, val, p->tokens_per_s, eta);
        r->bar_shown = true;
    } else if (p->step % r->plain_every == 0 || p->step == p->steps) {
        fprintf(stderr, "step %d/%d loss %.4f%s | %.0f tok/s | ETA %s\n", p->step, p->steps,
                p->loss, val, p->tokens_per_s, eta);
    }
}

void runlog_train(RunLog *r, const TrainPoint *p) {
    fprintf(r->log, "step:%d/%d train_time:%.0fms step_avg:%.2fms\n", p->step, p->steps,
            p->train_ms, p->train_ms / p->step);
    fflush(r->log);
    fprintf(r->metrics, "{\"kind\": \"train\", \"step\": %d, \"loss\": %.9g, \"lr_mult\": %.9g, "
                        "\"step_ms\": %.3f, \"train_time_ms\": %.3f, \"tokens_per_s\": %.1f}\n",
            p->step, p->loss, p->lr_mult, p->step_ms, p->train_ms, p->tokens_per_s);
    fflush(r->metrics);
    show_progress(r, p);
}

static void scalar_list(FILE *f, const char *name, const ModelSpec *s, const float *sc,
                        int (*index)(const ModelSpec *, int, int), int j) {
    fprintf(f, ", \"%s\": [", name);
    for (int i = 0; i < s->model.layers; i++) {
        if (i) fputs(", ", f);
        json_num(f, sc[index(s, i, j)]);
    }
    fputc(']', f);
}

static int skip_at(const ModelSpec *s, int layer, int j) {
    (void)j;
    return spec_skip_index(s, layer);
}

/* Every scalar, per layer, under names a plotting script can use as is. */
static void scalars_json(FILE *f, const ModelSpec *s, const float *sc) {
    fputs("{\"layers\": ", f);
    fprintf(f, "%d", s->model.layers);
    scalar_list(f, "skip", s, sc, skip_at, 0);
    scalar_list(f, "lambda_x", s, sc, spec_lambda_index, 0);
    for (int k = 0; k < s->x0.tables; k++) {
        char name[32];
        snprintf(name, sizeof name, "lambda_x0%d", k);
        scalar_list(f, name, s, sc, spec_lambda_index, k + 1);
    }
    scalar_list(f, "sa_v", s, sc, spec_sa_index, 0);
    scalar_list(f, "sa_ve", s, sc, spec_sa_index, 1);
    fputc('}', f);
}

static void number_list(FILE *f, const char *name, const double *v, int n) {
    fprintf(f, "\"%s\": [", name);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        json_num(f, v[i]);
    }
    fputc(']', f);
}

/* ", "norms": {...}, "norm_corrected": {...}": the RMS of x per layer and
 * of each input table, and each lambda of a layer's mix times the RMS of
 * what it scales, as a share of that layer's sum of their magnitudes
 * (signed), so that the layers compare although x's norm grows. */
static void norms_json(FILE *f, const ModelSpec *s, const ValPoint *p) {
    int L = s->model.layers, K = s->x0.tables;
    fputs(", \"norms\": {", f);
    number_list(f, "x", p->x_rms, L);
    for (int k = 0; k < K; k++) {
        fprintf(f, ", \"x0%d\": ", k);
        json_num(f, p->x0_rms[k]);
    }
    fputs("}, \"norm_corrected\": {", f);
    double w[SPEC_MAX_LAYERS][SPEC_MAX_TABLES + 1];
    for (int i = 0; i < L; i++) {
        double sum = 0;
        for (int j = 0; j <= K; j++) {
            w[i][j] = p->scalars[spec_lambda_index(s, i, j)] * (j ? p->x0_rms[j - 1] : p->x_rms[i]);
            sum += fabs(w[i][j]);
        }
        for (int j = 0; j <= K; j++) w[i][j] = sum > 0 ? w[i][j] / sum : 0;
    }
    for (int j = 0; j <= K; j++) {
        double col[SPEC_MAX_LAYERS];
        char name[32];
        for (int i = 0; i < L; i++) col[i] = w[i][j];
        if (j) snprintf(name, sizeof name, "lambda_x0%d", j - 1);
        else snprintf(name, sizeof name, "lambda_x");
        if (j) fputs(", ", f);
        number_list(f, name, col, L);
    }
    fputc('}', f);
}

void runlog_val(RunLog *r, const ModelSpec *s, const ValPoint *p) {
    double avg = p->step ? p->train_ms / p->step : 0;
    fprintf(r->log, "step:%d/%d val_loss:%.4f train_time:%.0fms step_avg:%.2fms\n", p->step,
            p->steps, p->val_loss, p->train_ms, avg);
    fflush(r->log);
    fprintf(r->metrics, "{\"kind\": \"val\", \"step\": %d, \"val_loss\": %.9g, ", p->step,
            p->val_loss);
    if (p->train_loss == p->train_loss) fprintf(r->metrics, "\"train_loss\": %.9g, ", p->train_loss);
    else fputs("\"train_loss\": null, ", r->metrics);
    fprintf(r->metrics, "\"train_time_ms\": %.3f, \"step_avg_ms\": %.3f, "
                        "\"window_blocks\": {\"long\": %d, \"short\": %d}, \"scalars\": ",
            p->train_ms, avg, p->long_blocks, p->short_blocks);
    scalars_json(r->metrics, s, p->scalars);
    if (p->x_rms && p->x0_rms) norms_json(r->metrics, s, p);
    fputs("}\n", r->metrics);
    fflush(r->metrics);
    r->last_val = p->val_loss;
    clear_bar(r);
    /* Before the first step there is no train loss to show. */
    char train[32] = "";
    if (p->train_loss == p->train_loss) snprintf(train, sizeof train, " (train %.4f)", p->train_loss);
    fprintf(stderr, "step %d/%d val_loss %.4f%s train_time %.1fs\n", p->step, p->steps, p->val_loss,
            train, p->train_ms / 1000);
}
