/*
 * cmd_compile.c: `gptc compile MODEL.yaml`.
 *
 * Loads and validates the model, plans its kernel instances (emit.c),
 * renders kernels.cu, kernels.h and kernels_sim.cc and writes them atomically
 * to DIR, then compiles kernels.cu with NVRTC once per architecture, in
 * parallel and through the compile cache (nvrtc.c). A compile fails on any
 * NVRTC error, any warning in its log and any spill, printing the log.
 * NVRTC compiles the file's code with its header comment turned into blank
 * lines: line numbers stay those of kernels.cu, and models whose kernels
 * are the same share cache entries although their headers name different
 * models.
 */
#include "cli/cmd_compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/arch.h"
#include "compiler/build.h"
#include "compiler/codegen/buildc.h"
#include "cli/cli.h"
#include "compiler/lang/diag.h"
#include "compiler/codegen/emit.h"
#include "compiler/util/fsutil.h"
#include "compiler/codegen/nvrtc.h"
#include "compiler/plan/planstats.h"
#include "compiler/util/sha256.h"
#include "compiler/lang/validate.h"
#include "compiler/tune/db.h"
#include "cli/train_db.h"

#define MAX_ARCHS 8

static const char compile_help[] =
    "Usage: gptc compile MODEL.yaml [-o DIR] [--report] [--arch LIST] [-j N]\n"
    "                    [--set KEY=VALUE]... [--no-compile] [--print-graph]\n"
    "                    [--plan-stats[=T]] [--db FILE]\n"
    "\n"
    "Generates the model's fused CUDA kernels and compiles them with NVRTC, so\n"
    "that you know they build cleanly for each GPU architecture before any GPU\n"
    "is involved. Writes:\n"
    "  DIR/kernels.cu      the kernels, rendered from gptc's templates with the\n"
    "                      model's sizes; each is named after its constants,\n"
    "                      e.g. x0_mix_fwd_t2_d128 (2 input tables, width 128)\n"
    "  DIR/kernels.h       each kernel's name, parameters, constants and launch\n"
    "                      shape, as C data (the kernel tests read it)\n"
    "  DIR/kernels_sim.cc  kernels.cu for the sim executor: built with g++ and\n"
    "                      runtime/device/sim/cuda_emu.cc, each kernel NAME is callable\n"
    "                      from C as gptc_sim_NAME (runtime/device/sim/README.md)\n"
    "  DIR/build.c         the model build as C data, what a generated trainer\n"
    "                      links: the tensors, the kernel set, one training\n"
    "                      step (the arena's buffers with their offsets, every\n"
    "                      kernel launch, GEMM, copy and fill in order, each\n"
    "                      argument in its kernel's parameter order) and the\n"
    "                      optimizer's launches\n"
    "The same model always gives the same bytes. DIR defaults to generated/NAME\n"
    "for a model file NAME.yaml.\n"
    "\n"
    "kernels.cu is then compiled to CUBIN for each architecture, written as C\n"
    "data to DIR/cubins.c for a generated trainer (make train-NAME links\n"
    "build.c, cubins.c and kernels_sim.cc with the runtime: a program that\n"
    "trains that model with gptc train's options). Any NVRTC error, any\n"
    "warning and any register spill fails the command and prints NVRTC's log. Results are cached by content hash in $GPTC_CACHE_DIR, else\n"
    "$XDG_CACHE_HOME/gptc, else ~/.cache/gptc, so compiling the same kernels\n"
    "again is nearly instant. NVRTC is loaded at run time from the CUDA toolkit\n"
    "($CUDA_HOME/lib64, /usr/local/cuda/lib64 or the loader's path); no GPU is\n"
    "needed.\n"
    "\n"
    "Options:\n"
    "  -o DIR           where to write the files (default generated/NAME)\n"
    "  --arch LIST      comma-separated architectures (default sm_90a,sm_80;\n"
    "                   known: sm_80, sm_86, sm_89, sm_90, sm_90a)\n"
    "  -j N             compile up to N architectures at once (default 2)\n"
    "  --report         print, per kernel and architecture, registers, stack,\n"
    "                   spills, shared memory and the estimated occupancy,\n"
    "                   and the activation arena's peak (with reuse) and total\n"
    "  --no-compile     write the files only; NVRTC is not needed\n"
    "  --print-graph    print the step's op graph: each fused kernel and the\n"
    "                   elementary ops it computes, with their tensors\n"
    "  --plan-stats[=T] print launches and bytes through memory per step at T\n"
    "                   tokens (default the model's tokens per rank), fused\n"
    "                   and unfused, the fused step's bytes by kernel (most\n"
    "                   first) and the activation arena's size\n"
    "  --set KEY=VALUE  override a model key after `extends` (repeatable)\n"
    "  --db FILE        the kernels' variants as chosen in this tuning database\n"
    "                   (gptc tune); it must be of this gptc version. With\n"
    "                   --report, each chosen variant and its speed-up\n"
    "\n"
    "Exit status: 0 on success; 2 for an invalid model, bad usage, or kernels\n"
    "that do not compile cleanly; 1 when NVRTC is missing or a file cannot be\n"
    "written.\n"
    "\n"
    "Examples:\n"
    "  gptc compile models/tiny.yaml --report\n"
    "  gptc compile models/r10-medium-x01.yaml --arch sm_90a -o /tmp/r10\n"
    "  gptc compile models/tiny.yaml --set input_embeddings.tables=3 --no-compile\n";

typedef struct {
    const char *model, *out_dir, *arch_list, *db;
    CliArgs cli; /* the model file and the --set options */
    char arch_buf[256];
    const char *archs[MAX_ARCHS];
    int narchs;
    int jobs;
    bool report, no_compile, print_graph, plan_stats;
    int64_t stats_T;
} Args;

/* Splits LIST at commas into a->archs, checking each name. */
static int parse_archs(const CliCommand *c, Args *a, const char *list) {
    if (snprintf(a->arch_buf, sizeof a->arch_buf, "%s", list) >= (int)sizeof a->arch_buf)
        return cli_usage(c, "--arch list too long: %s", list);
    a->narchs = 0;
    for (char *tok = strtok(a->arch_buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!arch_find(tok)) {
            fprintf(stderr, "gptc compile: unknown architecture '%s' (known: %s)\n", tok,
                    arch_known_list());
            return 2;
        }
        for (int i = 0; i < a->narchs; i++)
            if (!strcmp(a->archs[i], tok)) return cli_usage(c, "architecture '%s' given twice", tok);
        if (a->narchs == MAX_ARCHS) return cli_usage(c, "more than 8 architectures in '%s'", list);
        a->archs[a->narchs++] = tok;
    }
    return a->narchs ? CLI_GO : cli_bad_value(c, "--arch", "at least one architecture", list);
}

/* CLI_GO, or the exit status: 0 after --help, 2 for bad usage. */
static int parse_args(int argc, char **argv, Args *a) {
    memset(a, 0, sizeof *a);
    a->jobs = NVRTC_DEFAULT_WORKERS;
    a->arch_list = "sm_90a,sm_80";
    const CliOpt opts[] = {
        {"-o", NULL, CLI_STRING, .to.str = &a->out_dir, .what = "a directory"},
        {"--arch", NULL, CLI_STRING, .to.str = &a->arch_list, .what = "a list of architectures"},
        {"-j", NULL, CLI_COUNT, .to.count = &a->jobs, .lo = 1, .hi = NVRTC_MAX_WORKERS},
        {"--report", NULL, CLI_FLAG, .to.flag = &a->report},
        {"--no-compile", NULL, CLI_FLAG, .to.flag = &a->no_compile},
        {"--print-graph", NULL, CLI_FLAG, .to.flag = &a->print_graph},
        {"--plan-stats", NULL, CLI_COUNT64, .to.count64 = &a->stats_T, .lo = 1, .hi = INT64_C(1) << 40,
         .optional = true, .seen = &a->plan_stats},
        {"--set", .kind = CLI_SET},
        {"--db", NULL, CLI_STRING, .to.str = &a->db, .what = "a file"},
        {0},
    };
    const CliCommand cmd = {"gptc compile", "model file", .opts = opts, .help = compile_help};
    int rc = cli_parse(&cmd, argc, argv, &a->cli);
    if (rc != CLI_GO) return rc;
    a->model = a->cli.args[0];
    if (a->out_dir && !*a->out_dir) return cli_usage(&cmd, "-o needs a directory");
    return parse_archs(&cmd, a, a->arch_list);
}


/* ---- generation ---- */

typedef struct {
    ModelBuild *build;
    StrBuf kernels_cu; /* header + code: the file */
    StrBuf compiled;   /* blank lines + code: what NVRTC sees */
    StrBuf kernels_h;
    StrBuf sim_cc;
    StrBuf build_c;
} Generated;

static void generated_free(Generated *g) {
    model_build_free(g->build);
    sb_free(&g->kernels_cu);
    sb_free(&g->compiled);
    sb_free(&g->kernels_h);
    sb_free(&g->sim_cc);
    sb_free(&g->build_c);
}

/* Tuning database `path`, if it is of this gptc (the device it was tuned
 * on is said: a compile has none to check); NULL, said, if not. */
/* The time db records for instance `in` (rule shape) at knobs k; < 0 if none. */
static double recorded_us(const TuneDb *db, const char *family, const char *shape, const char *tpl, TuneKnobs k) {
    for (int r = 0; r < db->nrows; r++) {
        const TuneChoice *c = &db->rows[r].c;
        if (!strcmp(c->family, family) && !strcmp(c->shape, shape) && (!c->tpl[0] || !strcmp(c->tpl, tpl)) &&
            tune_knobs_equal(c->knobs, k))
            return db->rows[r].us;
    }
    return -1;
}

static void print_speedup(const char *family, const char *shape, TuneKnobs k, double rule, double now,
                          const char *device) {
    char knobs[TUNE_KNOBS_TEXT];
    tune_knobs_format(k, knobs, sizeof knobs);
    printf("%-16s %-22s %-20s ", family, shape, knobs);
    if (rule > 0 && now > 0) printf("%.3fx (%s)\n", rule / now, device ? device : "?");
    else puts("-");
}

/* --report with --db: each tuned kernel's variant and each GEMM shape's
 * algorithm, with its speed-up over the rule, as the database measured
 * them. */
static void print_tuning(const ModelSpec *spec, const TuneDb *db, const ModelBuild *b) {
    KernelSet *rules = malloc(sizeof *rules);
    if (!rules) return;
    emit_kernel_set(spec, rules);
    const char *device = tune_db_value(db, "device");
    printf("%-16s %-22s %-20s %s\n", "family", "shape", "variant", "speed-up over the rule");
    for (int i = 0; i < rules->n && i < b->kernels.n; i++) {
        const EmitInstance *r = &rules->inst[i];
        char tpl[17];
        tune_template_hash(r->tpl, tpl);
        const TuneChoice *c = tune_find(&db->choices, r->family, r->suffix);
        if (!c) continue;
        TuneKnobs k = tune_knobs(&b->kernels.inst[i]);
        print_speedup(r->family, r->suffix, k, recorded_us(db, r->family, r->suffix, tpl, tune_knobs(r)),
                      recorded_us(db, r->family, r->suffix, tpl, k), device);
    }
    TuneKnobs dflt = {.algo = {.set = 1}};
    for (int i = 0; i < b->ngemm; i++) {
        const TuneChoice *c = &b->gemm[i];
        print_speedup(c->family, c->shape, c->knobs, recorded_us(db, c->family, c->shape, "", dflt),
                      recorded_us(db, c->family, c->shape, "", c->knobs), device);
    }
    free(rules);
}

/* Every file from the one model build (build.h). */
static bool generate(const ModelSpec *spec, const char *version, const char *model, const TuneChoices *t,
                     Generated *g) {
    char err[512];
    if (!(g->build = model_build_tuned(spec, t, err, sizeof err))) {
        fprintf(stderr, "gptc compile: %s%s\n", t ? "" : "internal error: ", err);
        return false;
    }
    const ModelBuild *b = g->build;
    StrBuf header = {0};
    emit_header(version, model, "kernels.cu: the model's fused kernels; kernels.h says how to launch them.", &header);
    sb_puts(&g->kernels_cu, sb_str(&header));
    sb_puts(&g->kernels_cu, b->kernels_cu);
    for (const char *c = sb_str(&header); *c; c++)
        if (*c == '\n') sb_append(&g->compiled, "\n", 1);
    sb_puts(&g->compiled, b->kernels_cu);
    Sha256 h;
    char hex[65];
    sha256_init(&h);
    sha256_update(&h, g->kernels_cu.data, g->kernels_cu.len);
    sha256_hex(&h, hex);
    header.len = 0;
    emit_header(version, model, "kernels.h: how to launch the kernels of kernels.cu (the runtime reads this).", &header);
    emit_kernels_h(&b->kernels, sb_str(&header), hex, &g->kernels_h);
    header.len = 0;
    emit_header(version, model,
                "kernels_sim.cc: kernels.cu for the sim executor, each kernel NAME callable\n"
                " * from C as gptc_sim_NAME (runtime/device/sim/sim.h). Build it with\n"
                " *   g++ -std=c++17 -O2 -fno-strict-aliasing -ffp-contract=off "
                "-Iruntime/sim -Itemplates\n"
                " * (no FMA contraction: NVRTC compiles with --fmad=false) and link\n"
                " * runtime/device/sim/cuda_emu.cc once per process.",
                &header);
    emit_sim_cc(&b->kernels, sb_str(&header), &g->sim_cc);
    bool ok = b->has_plan;
    if (!ok) {
        fprintf(stderr, "gptc compile: %s: the sim and cuda executors cannot run this model: %s\n", model, b->plan_why);
    } else {
        header.len = 0;
        emit_header(version, model,
                    "build.c: the model build as C data (compiler/codegen/buildc.h): its tensors, its\n"
                    " * kernel set, one training step with every argument in its kernel's\n"
                    " * parameter order, the arena and the optimizer's launches.",
                    &header);
        buildc_emit(b, sb_str(&header), &g->build_c);
    }
    sb_free(&header);
    return ok;
}

static bool write_text(const char *dir, const char *name, const StrBuf *text) {
    char path[4200], err[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const void *pieces[] = {sb_str(text)};
    size_t lens[] = {text->len};
    if (fs_write_atomic(path, pieces, lens, 1, err, sizeof err)) return true;
    fprintf(stderr, "gptc compile: %s\n", err);
    return false;
}

/* ---- compiling and checking ---- */

static int kernel_count(const KernelSet *p) {
    int n = 0;
    for (int i = 0; i < p->n; i++) n += p->inst[i].nkernels;
    return n;
}

static const KernelRes *find_res(const NvrtcOutput *o, const char *name) {
    for (int i = 0; i < o->nkernels; i++)
        if (o->kernels[i].entry && !strcmp(o->kernels[i].name, name)) return &o->kernels[i];
    return NULL;
}

/* Prints what is wrong with one architecture's result; true if nothing. */
static bool check_output(const char *arch, const NvrtcOutput *o, const KernelSet *p) {
    bool clean = o->ok && o->warnings == 0;
    for (int i = 0; i < o->nkernels; i++)
        if (o->kernels[i].spill_store_bytes || o->kernels[i].spill_load_bytes) {
            fprintf(stderr, "gptc compile: %s: %s spills %d bytes (stores) / %d bytes (loads)\n", arch,
                    o->kernels[i].name, o->kernels[i].spill_store_bytes, o->kernels[i].spill_load_bytes);
            clean = false;
        }
    for (int i = 0; i < p->n && o->ok; i++)
        for (int k = 0; k < p->inst[i].nkernels; k++)
            if (!find_res(o, p->inst[i].kernels[k].name)) {
                fprintf(stderr, "gptc compile: %s: no ptxas report for %s\n", arch,
                        p->inst[i].kernels[k].name);
                clean = false;
            }
    if (o->error[0]) fprintf(stderr, "gptc compile: %s\n", o->error);
    else if (o->warnings)
        fprintf(stderr, "gptc compile: %s: %d warning%s, treated as errors\n", arch, o->warnings,
                o->warnings == 1 ? "" : "s");
    if (!clean && o->log && o->log[0])
        fprintf(stderr, "---- NVRTC log for %s ----\n%s\n----\n", arch, o->log);
    return clean;
}

static void print_report(const Args *a, const NvrtcOutput *out, const KernelSet *p) {
    printf("%-26s %-7s %5s %6s %12s %6s %8s %9s %9s\n", "kernel", "arch", "regs", "stack", "spill st/ld",
           "smem", "threads", "blocks/SM", "occupancy");
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->inst[i].nkernels; k++)
            for (int j = 0; j < a->narchs; j++) {
                const KernelRes *r = find_res(&out[j], p->inst[i].kernels[k].name);
                if (!r) continue;
                Occupancy occ =
                    arch_occupancy(arch_find(a->archs[j]), p->inst[i].threads, r->registers, r->smem_bytes);
                char spill[32];
                snprintf(spill, sizeof spill, "%d/%d", r->spill_store_bytes, r->spill_load_bytes);
                printf("%-26s %-7s %5d %6d %12s %6d %8d %9d %8.0f%%\n", r->name, a->archs[j], r->registers,
                       r->stack_bytes, spill, r->smem_bytes, p->inst[i].threads, occ.blocks_per_sm,
                       occ.occupancy * 100);
            }
    puts("(stack and spills in bytes per thread, smem in bytes per block; occupancy: resident warps\n"
         " / the SM's maximum, estimated from registers, smem and threads per block)");
}

/* cubins.c: every architecture's CUBIN as C data, for a generated trainer
 * (compiler/build.h's BuildCubin); written only for a clean compile. */
static bool write_cubins(const Args *a, const NvrtcOutput *out, const char *dir) {
    StrBuf c = {0};
    sb_puts(&c, "/* Written by gptc compile: kernels.cu compiled for each architecture. */\n#include \"compiler/build.h\"\n\n");
    for (int j = 0; j < a->narchs; j++) {
        sb_printf(&c, "_Alignas(16) static const unsigned char cubin_%d[%zu] = {", j, out[j].cubin_size);
        for (size_t i = 0; i < out[j].cubin_size; i++) sb_printf(&c, "%s%u,", i % 24 ? "" : "\n", out[j].cubin[i]);
        sb_puts(&c, "\n};\n\n");
    }
    sb_printf(&c, "const int gptc_build_ncubins = %d;\nconst BuildCubin gptc_build_cubins[%d] = {\n", a->narchs,
              a->narchs);
    for (int j = 0; j < a->narchs; j++) sb_printf(&c, "    {\"%s\", cubin_%d, sizeof cubin_%d},\n", a->archs[j], j, j);
    sb_puts(&c, "};\n");
    bool ok = write_text(dir, "cubins.c", &c);
    sb_free(&c);
    return ok;
}

static int compile_and_check(const Args *a, const Generated *g, const char *dir) {
    char why[1024];
    if (!nvrtc_load(why, sizeof why)) {
        fprintf(
            stderr,
            "gptc compile: %s\ngptc compile: wrote %s/kernels.cu, kernels.h and kernels_sim.cc but did not "
            "compile kernels.cu\n",
            why, dir);
        return 1;
    }
    NvrtcHeader headers[NVRTC_MAX_HEADERS];
    NvrtcJob jobs[MAX_ARCHS];
    NvrtcOutput out[MAX_ARCHS];
    for (int j = 0; j < a->narchs; j++)
        jobs[j] = (NvrtcJob){"kernels.cu", sb_str(&g->compiled),
                             headers,      nvrtc_template_headers(headers, NVRTC_MAX_HEADERS),
                             a->archs[j],  false};
    NvrtcConfig cfg = {a->jobs, NULL};
    long hits0 = nvrtc_cache_hits();
    nvrtc_compile_all(jobs, a->narchs, &cfg, out);
    double slowest = 0;
    bool clean = true;
    for (int j = 0; j < a->narchs; j++) {
        clean = check_output(a->archs[j], &out[j], &g->build->kernels) && clean;
        if (out[j].cache_note[0]) fprintf(stderr, "gptc compile: note: %s\n", out[j].cache_note);
        if (out[j].seconds > slowest) slowest = out[j].seconds;
    }
    if (a->report) print_report(a, out, &g->build->kernels);
    if (clean && !write_cubins(a, out, dir)) clean = false;
    int major = 0, minor = 0;
    nvrtc_version(&major, &minor);
    printf("gptc compile: %s/kernels.cu (%d kernels) %s for", dir, kernel_count(&g->build->kernels),
           clean ? "compiled cleanly" : "FAILED");
    for (int j = 0; j < a->narchs; j++) printf(" %s", a->archs[j]);
    printf(" with NVRTC %d.%d in %.1f ms (%ld of %d from the cache)\n", major, minor, slowest * 1e3,
           nvrtc_cache_hits() - hits0, a->narchs);
    for (int j = 0; j < a->narchs; j++) nvrtc_output_free(&out[j]);
    return clean ? 0 : 2;
}

static double gib(int64_t bytes) { return (double)bytes / (1 << 30); }

/* --print-graph, --plan-stats, and --report's arena line and (with --db)
 * the tuned variants. */
static bool print_plan(const Args *a, const ModelSpec *spec, const TuneDb *db, Generated *g) {
    const Plan *p = &g->build->plan;
    if (a->print_graph) {
        StrBuf text = {0};
        lower_print_graph(p, &text);
        fputs(sb_str(&text), stdout);
        sb_free(&text);
    }
    long long T = a->stats_T ? a->stats_T : spec->train.tokens_per_rank;
    if (a->plan_stats) {
        PlanStats st;
        plan_stats(p, T, &st);
        printf("plan at T=%lld: %lld launches/step fused (%lld unfused), %.3f GiB/step through memory fused, "
               "%.3f GiB unfused (%.2fx less)\n",
               T, (long long)st.launches, (long long)st.unfused_launches, gib(st.bytes), gib(st.unfused_bytes),
               st.bytes ? (double)st.unfused_bytes / (double)st.bytes : 0.0);
        PlanKernelBytes by[16];
        int n = plan_bytes_by_kernel(p, T, by, 16);
        printf("  %-36s %8s %10s %6s\n", "by kernel (most bytes first)", "launches", "GiB/step", "share");
        for (int i = 0; i < n && i < 16; i++)
            printf("  %-36s %8lld %10.3f %5.1f%%\n", by[i].name, (long long)by[i].launches, gib(by[i].bytes),
                   st.bytes ? 100.0 * (double)by[i].bytes / (double)st.bytes : 0.0);
        if (n > 16) printf("  (%d more)\n", n - 16);
    }
    if (a->plan_stats || a->report) {
        char err[512];
        if (T % spec->attn.window.block_size == 0 && !arena_verify(p, T, err, sizeof err)) {
            fprintf(stderr, "gptc compile: internal error: arena plan: %s\n", err);
            return false;
        }
        const ArenaLayout *z = &g->build->arena;
        printf("activation arena at T=%lld: %.3f GiB with reuse, %.3f GiB without (%d buffers)\n", T,
               gib(arena_bytes(z->arena_per_token, z->arena_fixed, T)),
               gib(arena_bytes(z->total_per_token, z->total_fixed, T)), z->narena);
    }
    if (a->report && db) print_tuning(spec, db, g->build);
    return true;
}

static int compile(const Args *a, const char *version) {
    ModelSpec *spec = malloc(sizeof *spec);
    Generated *g = calloc(1, sizeof *g);
    if (!spec || !g) {
        free(spec);
        free(g);
        return fputs("gptc: out of memory\n", stderr), 1;
    }
    char dir[4096], err[4200];
    TuneDb *db = NULL;
    if (a->out_dir) snprintf(dir, sizeof dir, "%s", a->out_dir);
    else fs_stem_path("generated", a->model, dir, sizeof dir);
    int rc = 0;
    if (!spec_load(a->model, a->cli.sets, a->cli.nsets, spec)) {
        fprintf(stderr, "gptc compile: %s is not a valid model (%d error%s)\n", a->model, diag_error_count(),
                diag_error_count() == 1 ? "" : "s");
        rc = 2;
    } else if (a->db && !(db = build_db_read("gptc compile", a->db, version))) {
        rc = 2;
    } else if (!generate(spec, version, a->model, db ? &db->choices : NULL, g)) {
        rc = db ? 2 : 1;
    } else if (!fs_mkdir_p(dir, err, sizeof err)) {
        fprintf(stderr, "gptc compile: %s\n", err);
        rc = 1;
    } else if (!write_text(dir, "kernels.cu", &g->kernels_cu) || !write_text(dir, "kernels.h", &g->kernels_h) ||
               !write_text(dir, "kernels_sim.cc", &g->sim_cc) || !write_text(dir, "build.c", &g->build_c)) {
        rc = 1;
    } else if (!print_plan(a, spec, db, g)) {
        rc = 1;
    } else if (a->no_compile) {
        printf("gptc compile: wrote %s/kernels.cu (%d kernels), kernels.h, kernels_sim.cc and build.c\n", dir,
               kernel_count(&g->build->kernels));
    } else {
        rc = compile_and_check(a, g, dir);
    }
    if (fflush(stdout) != 0 && rc == 0) rc = 1;
    generated_free(g);
    free(g);
    free(spec);
    free(db);
    diag_reset();
    return rc;
}

int cmd_compile(int argc, char **argv, const char *version) {
    Args a;
    int rc = parse_args(argc, argv, &a);
    if (rc == CLI_GO) rc = compile(&a, version);
    cli_free(&a.cli);
    return rc;
}
