/*
 * manifest.c: a run's manifest (manifest.h).
 *
 * Everything here is read from the machine when the run starts; nothing is
 * cached, so a resumed run records where and how it resumed, which may be
 * another machine with another BLAS kernel or GPU.
 */
#include "runtime/train/manifest.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "compiler/util/json.h"
#include "compiler/util/strbuf.h"
#include "compiler/version.h"

static StrBuf command;

/* Arguments made only of these characters need no quotes in a shell. */
static bool shell_safe(const char *a) {
    if (!*a) return false;
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+@%-", *p))
            return false;
    return true;
}

static void quote_arg(StrBuf *b, const char *a) {
    if (shell_safe(a)) {
        sb_puts(b, a);
        return;
    }
    sb_puts(b, "'");
    for (const char *p = a; *p; p++) {
        if (*p == '\'') sb_puts(b, "'\\''");
        else sb_append(b, p, 1);
    }
    sb_puts(b, "'");
}

void manifest_set_command(int argc, char **argv) {
    sb_free(&command);
    const char *given = getenv(MANIFEST_COMMAND_ENV);
    if (given) {
        sb_puts(&command, given);
        return;
    }
    for (int i = 0; i < argc; i++) {
        if (i) sb_puts(&command, " ");
        quote_arg(&command, argv[i]);
    }
}

const char *manifest_command(void) { return sb_str(&command); }

/* The first "model name" line of /proc/cpuinfo; "" where there is none. */
static void cpu_model(char *out, size_t cap) {
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *v = strchr(line, ':');
        if (!v) continue;
        v += strspn(v + 1, " \t") + 1;
        snprintf(out, cap, "%.*s", (int)strcspn(v, "\n"), v);
        break;
    }
    fclose(f);
}

static void member_str(FILE *f, const char *key, const char *value) {
    fprintf(f, ", \"%s\": ", key);
    json_str(f, value, strlen(value));
}

static void utc_now(char *out, size_t cap) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* OpenBLAS names its build and the kernel it chose for this CPU at load
 * time: two machines with the same binary may differ here. */
static void blas_json(FILE *f) {
    fputs(", \"blas\": {\"library\": ", f);
    const char *config = openblas_get_config();
    json_str(f, config, strlen(config));
    const char *core = openblas_get_corename();
    fputs(", \"kernel\": ", f);
    json_str(f, core, strlen(core));
    fprintf(f, ", \"threads\": %d}", openblas_get_num_threads());
}

void manifest_json(FILE *f, const ManifestRun *r) {
    char host[256] = "", cpu[256], start[32];
    if (gethostname(host, sizeof host - 1)) host[0] = '\0';
    cpu_model(cpu, sizeof cpu);
    utc_now(start, sizeof start);
    fputs("{\"gptc\": ", f);
    json_str(f, GPTC_VERSION, strlen(GPTC_VERSION));
    member_str(f, "commit", gptc_commit);
    member_str(f, "command", manifest_command());
    member_str(f, "executor", r->executor);
    fprintf(f, ", \"threads\": %d, \"ranks\": %d, \"slices_per_rank\": %d", r->threads, r->nranks,
            r->slices);
    member_str(f, "host", host);
    member_str(f, "cpu", cpu);
    fprintf(f, ", \"cpus\": %ld", sysconf(_SC_NPROCESSORS_ONLN));
    blas_json(f);
    if (r->be && r->be->describe) r->be->describe(r->be->impl, f);
    member_str(f, "start_utc", start);
    fputc('}', f);
}
