/*
 * test_nvrtc.c: NVRTC through dlopen and the compile cache (nvrtc.c), the
 * ptxas report parser, SHA-256 (sha256.c) and the occupancy estimate
 * (arch.c).
 *
 * The parser, hash and occupancy tests need nothing installed. The compile
 * tests need NVRTC: where it cannot be loaded they are not registered, and
 * "skipped: NVRTC not found (...)" is printed instead, so a machine without
 * the toolkit neither passes nor fails them (under CI it fails them). They
 * compile small kernels for sm_90a and sm_80 (no GPU needed), read the
 * resources back, hit the cache on a second compile (the hit counter; both
 * times printed, not asserted), see a planted error, a warning and a spill
 * in the log, recover from a damaged cache entry, and get identical CUBINs
 * from parallel workers.
 * Each uses its own cache directory under /tmp, removed at the end.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/codegen/arch.h"
#include "compiler/codegen/nvrtc.h"
#include "compiler/lang/diag.h"
#include "compiler/lang/validate.h"
#include "compiler/tune/space.h"
#include "compiler/util/sha256.h"
#include "tests/unit/test.h"

/* ---- no toolkit needed ---- */

static bool sha_is(const char *text, size_t repeat, const char *want) {
    Sha256 h;
    char hex[65];
    sha256_init(&h);
    for (size_t i = 0; i < repeat; i++) sha256_update(&h, text, strlen(text));
    sha256_hex(&h, hex);
    if (!strcmp(hex, want)) return true;
    fprintf(stderr, "  sha256 of %zu x '%.20s': %s, wanted %s\n", repeat, text, hex, want);
    return false;
}

TEST(sha256_matches_the_standard_vectors) {
    CHECK(sha_is("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(sha_is("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(sha_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    CHECK(sha_is("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* 55, 56 and 64 bytes: the padding's edge cases */
    CHECK(sha_is("a", 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
    CHECK(sha_is("a", 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
    CHECK(sha_is("a", 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));
}

static const char ptxas_log[] =
    "kernels.cu(9): warning #177-D: variable \"unused\" was declared but never referenced\n"
    "Remark: The warnings can be suppressed with \"-diag-suppress <warning-number>\"\n"
    "ptxas info    : 0 bytes gmem\n"
    "ptxas info    : Function properties for helper\n"
    "ptxas         .     16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
    "ptxas info    : Compiling entry function 'k_one' for 'sm_80'\n"
    "ptxas info    : Function properties for k_one\n"
    "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 26 registers, used 1 barriers, 2048 bytes smem, 376 bytes cmem[0]\n"
    "ptxas info    : Compile time = 12.748 ms\n"
    "ptxas info    : Compiling entry function 'k_two' for 'sm_80'\n"
    "ptxas info    : Function properties for k_two\n"
    "ptxas         .     624 bytes stack frame, 356 bytes spill stores, 432 bytes spill loads\n"
    "ptxas info    : Used 32 registers, used 0 barriers, 624 bytes cumulative stack size, 360 bytes cmem[0]\n"
    "ptxas warning : Registers are spilled to local memory in function 'k_two'";

TEST(nvrtc_parses_the_ptxas_report) {
    KernelRes *k = NULL;
    int warnings = -1;
    int n = nvrtc_parse_log(ptxas_log, &k, &warnings);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(warnings, 2);
    if (n == 3) {
        CHECK(!strcmp(k[0].name, "helper") && !k[0].entry);
        CHECK_EQ_INT(k[0].stack_bytes, 16);
        CHECK_EQ_INT(k[0].spill_store_bytes, 8);
        CHECK_EQ_INT(k[0].spill_load_bytes, 4);
        CHECK(!strcmp(k[1].name, "k_one") && k[1].entry);
        CHECK_EQ_INT(k[1].registers, 26);
        CHECK_EQ_INT(k[1].barriers, 1);
        CHECK_EQ_INT(k[1].smem_bytes, 2048);
        CHECK_EQ_INT(k[1].spill_store_bytes + k[1].spill_load_bytes + k[1].stack_bytes, 0);
        CHECK(!strcmp(k[2].name, "k_two") && k[2].entry);
        CHECK_EQ_INT(k[2].registers, 32);
        CHECK_EQ_INT(k[2].stack_bytes, 624);
        CHECK_EQ_INT(k[2].spill_store_bytes, 356);
        CHECK_EQ_INT(k[2].spill_load_bytes, 432);
        CHECK_EQ_INT(k[2].smem_bytes, 0);
    }
    free(k);
    n = nvrtc_parse_log("", &k, &warnings);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(warnings, 0);
    free(k);
}

TEST(arch_occupancy_follows_the_calculator) {
    const ArchLimits *h = arch_find("sm_90a"), *a = arch_find("sm_80"), *g = arch_find("sm_86");
    CHECK(h && a && g && !arch_find("sm_70") && !arch_find("90a"));
    if (!h || !a || !g) return;
    Occupancy o = arch_occupancy(h, 256, 26, 0); /* 32 regs/thread: 8 x 8 warps */
    CHECK_EQ_INT(o.blocks_per_sm, 8);
    CHECK_NEAR(o.occupancy, 1.0, 1e-12);
    o = arch_occupancy(h, 256, 37, 0); /* 40 regs: 1280 per warp, 51 warps: 6 blocks */
    CHECK_EQ_INT(o.blocks_per_sm, 6);
    CHECK_NEAR(o.occupancy, 0.75, 1e-12);
    o = arch_occupancy(h, 128, 168, 0); /* 168 regs: 5376 per warp, 12 warps: 3 blocks */
    CHECK_EQ_INT(o.blocks_per_sm, 3);
    o = arch_occupancy(h, 256, 32, 100 * 1024); /* 101 KB per block of 228 */
    CHECK_EQ_INT(o.blocks_per_sm, 2);
    o = arch_occupancy(a, 256, 32, 100 * 1024); /* of 164 */
    CHECK_EQ_INT(o.blocks_per_sm, 1);
    o = arch_occupancy(a, 32, 16, 0); /* the 32-block limit */
    CHECK_EQ_INT(o.blocks_per_sm, 32);
    CHECK_NEAR(o.occupancy, 0.5, 1e-12);
    o = arch_occupancy(g, 1024, 32, 0); /* 48 warps per SM on sm_86 */
    CHECK_EQ_INT(o.blocks_per_sm, 1);
    CHECK_NEAR(o.occupancy, 32.0 / 48, 1e-12);
    CHECK_EQ_INT(arch_occupancy(h, 256, 256, 0).blocks_per_sm, 0);
    CHECK_EQ_INT(arch_occupancy(a, 256, 32, 164 * 1024).blocks_per_sm, 0);
}

/* ---- NVRTC needed ---- */

static char nvrtc_why[1024];

/* Whether NVRTC loads; nvrtc_why says why not. */
static bool have_nvrtc(void) {
    static int state = -1;
    if (state < 0) state = nvrtc_load(nvrtc_why, sizeof nvrtc_why);
    return state;
}

/* A TEST that runs only when NVRTC loads (else it is reported skipped, or
 * fails under CI). */
#define NVRTC_TEST(name)                                                                                   \
    static void name(void);                                                                                \
    __attribute__((constructor)) static void name##_register(void) {                                       \
        if (have_nvrtc()) test_register(#name, name);                                                      \
        else test_register_missing(#name, nvrtc_why);                                                      \
    }                                                                                                      \
    static void name(void)

static const char axpy_src[] =
    "#include <cuda_bf16.h>\n"
    "#include \"scale.cuh\"\n"
    "extern \"C\" __global__ void axpy(__nv_bfloat16 *y, const __nv_bfloat16 *x, float a, int n) {\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) y[i] = __float2bfloat16(scale(a) * __bfloat162float(x[i]) + __bfloat162float(y[i]));\n"
    "}\n";
static const NvrtcHeader scale_h = {"scale.cuh",
                                    "__device__ inline float scale(float a) { return 2.0f * a; }\n"};

static NvrtcJob job(const char *source, const char *arch, bool ptx) {
    return (NvrtcJob){"test.cu", source, &scale_h, 1, arch, ptx};
}

static void make_dir(char *dir) {
    snprintf(dir, 64, "/tmp/gptc-test-nvrtc-XXXXXX");
    if (!mkdtemp(dir)) test_fail(__FILE__, __LINE__, "mkdtemp");
}

/* Removes the cache directory and the files in it (it has no subdirectories). */
static int remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    char path[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' || strstr(e->d_name, "gptc-tmp")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            files += unlink(path) == 0;
        }
    if (d) closedir(d);
    rmdir(dir);
    return files;
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static const KernelRes *entry(const NvrtcOutput *o, const char *name) {
    for (int i = 0; i < o->nkernels; i++)
        if (o->kernels[i].entry && !strcmp(o->kernels[i].name, name)) return &o->kernels[i];
    return NULL;
}

NVRTC_TEST(nvrtc_compiles_for_sm90a_and_sm80) {
    char dir[64];
    make_dir(dir);
    NvrtcJob jobs[2] = {job(axpy_src, "sm_90a", true), job(axpy_src, "sm_80", false)};
    NvrtcOutput out[2];
    nvrtc_compile_all(jobs, 2, &(NvrtcConfig){2, dir}, out);
    for (int i = 0; i < 2; i++) {
        if (!out[i].ok) fprintf(stderr, "  %s\n%s\n", out[i].error, out[i].log);
        CHECK(out[i].ok && !out[i].cached && out[i].warnings == 0 && !out[i].error[0]);
        CHECK(out[i].cubin_size > 4 && !memcmp(out[i].cubin, "\177ELF", 4));
        const KernelRes *k = entry(&out[i], "axpy");
        CHECK(k && k->registers > 0 && k->registers < 64 && k->spill_store_bytes == 0 &&
              k->stack_bytes == 0);
    }
    CHECK(out[0].ptx && strstr(out[0].ptx, ".visible .entry axpy") && strstr(out[0].ptx, ".target sm_90a"));
    CHECK(out[0].ptx_size == strlen(out[0].ptx));
    CHECK(out[1].ptx == NULL);
    CHECK_EQ_INT(count_files(dir), 2);
    for (int i = 0; i < 2; i++) nvrtc_output_free(&out[i]);
    remove_dir(dir);
}

NVRTC_TEST(nvrtc_second_compile_hits_the_cache) {
    char dir[64];
    make_dir(dir);
    NvrtcJob j = job(axpy_src, "sm_80", true);
    NvrtcOutput cold, warm;
    long hits = nvrtc_cache_hits(), compiles = nvrtc_compiles();
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, dir}, &cold);
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, dir}, &warm);
    printf("test_nvrtc: compile of a small kernel for sm_80: cold %.1f ms, warm (cached) %.2f ms\n",
           cold.seconds * 1e3, warm.seconds * 1e3);
    CHECK(cold.ok && !cold.cached && warm.ok && warm.cached);
    CHECK_EQ_INT(nvrtc_cache_hits() - hits, 1);
    CHECK_EQ_INT(nvrtc_compiles() - compiles, 1);
    CHECK(cold.cubin_size == warm.cubin_size && !memcmp(cold.cubin, warm.cubin, cold.cubin_size));
    CHECK(cold.ptx_size == warm.ptx_size && warm.ptx && !strcmp(cold.ptx, warm.ptx));
    CHECK(!strcmp(cold.log, warm.log));
    CHECK_EQ_INT(cold.nkernels, warm.nkernels);
    const KernelRes *a = entry(&cold, "axpy"), *b = entry(&warm, "axpy");
    CHECK(a && b && a->registers == b->registers);
    nvrtc_output_free(&cold);
    nvrtc_output_free(&warm);
    remove_dir(dir);
}

NVRTC_TEST(nvrtc_reports_a_compile_error_with_its_log) {
    char dir[64];
    make_dir(dir);
    const char *bad = "extern \"C\" __global__ void k(float *x) { x[0] = undefined_thing; }\n";
    NvrtcJob j = job(bad, "sm_80", false);
    NvrtcOutput o;
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, dir}, &o);
    CHECK(!o.ok && !o.cached && o.cubin == NULL);
    CHECK(strstr(o.error, "NVRTC failed for sm_80"));
    CHECK(strstr(o.log, "test.cu(1): error") && strstr(o.log, "undefined_thing"));
    CHECK_EQ_INT(count_files(dir), 0); /* failures are not cached */
    nvrtc_output_free(&o);
    remove_dir(dir);
}

NVRTC_TEST(nvrtc_sees_warnings_and_spills) {
    const char *src = "extern \"C\" __global__ void warns(float *x) { int unused = 3; x[0] = 1.0f; }\n"
                      "extern \"C\" __global__ void __launch_bounds__(1024, 2) spills(float *x) {\n"
                      "    float a[64];\n"
                      "    for (int i = 0; i < 64; i++) a[i] = x[i * blockDim.x + threadIdx.x];\n"
                      "    float s = 0;\n"
                      "    for (int i = 0; i < 64; i++)\n"
                      "        for (int j = 0; j < 64; j++) s += a[i] * a[63 - j] * (float)j;\n"
                      "    x[threadIdx.x] = s;\n"
                      "}\n";
    NvrtcJob j = job(src, "sm_80", false);
    NvrtcOutput o;
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, ""}, &o);
    CHECK(o.ok);
    CHECK_EQ_INT(o.warnings, 1);
    const KernelRes *s = entry(&o, "spills"), *w = entry(&o, "warns");
    CHECK(s && s->spill_store_bytes > 0 && s->spill_load_bytes > 0 && s->registers <= 32);
    CHECK(w && w->spill_store_bytes == 0);
    nvrtc_output_free(&o);
}

NVRTC_TEST(nvrtc_damaged_cache_entry_is_a_miss) {
    char dir[64];
    make_dir(dir);
    NvrtcJob j = job(axpy_src, "sm_80", false);
    NvrtcOutput o;
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, dir}, &o);
    nvrtc_output_free(&o);
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512] = "";
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (d) closedir(d);
    CHECK(path[0] && truncate(path, 100) == 0);
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, dir}, &o);
    CHECK(o.ok && !o.cached);
    nvrtc_output_free(&o);
    nvrtc_compile_all(&j, 1, &(NvrtcConfig){1, dir}, &o);
    CHECK(o.ok && o.cached);
    nvrtc_output_free(&o);
    CHECK_EQ_INT(remove_dir(dir), 1); /* rewritten in place, no temporary left behind */
}

NVRTC_TEST(nvrtc_parallel_workers_give_identical_cubins) {
    NvrtcJob jobs[4] = {job(axpy_src, "sm_80", false), job(axpy_src, "sm_90a", false),
                        job(axpy_src, "sm_80", false), job(axpy_src, "sm_90a", false)};
    NvrtcOutput out[4];
    nvrtc_compile_all(jobs, 4, &(NvrtcConfig){3, ""}, out);
    for (int i = 0; i < 4; i++) CHECK(out[i].ok && !out[i].cached);
    for (int i = 0; i < 2; i++)
        CHECK(out[i].cubin_size == out[i + 2].cubin_size &&
              !memcmp(out[i].cubin, out[i + 2].cubin, out[i].cubin_size));
    CHECK(out[0].cubin_size != out[1].cubin_size || memcmp(out[0].cubin, out[1].cubin, out[0].cubin_size));
    for (int i = 0; i < 4; i++) nvrtc_output_free(&out[i]);
}

/* ---- attention's kernels read only their own knobs ---- */

/* How many times `word` occurs in `text`. */
static int occurrences(const char *text, const char *word) {
    int n = 0;
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) n++;
    return n;
}

/* `ptx` with every mangled mention of namespace attn_SUFFIX (its length,
 * then its name) replaced by "NS", and without the globals no code reads
 * (NVRTC keeps each namespace constant as one, whatever the kernel uses),
 * so that two variants' programs compare by their code alone. */
static char *ptx_code(const char *ptx, size_t n, const char *suffix) {
    char ns[128];
    snprintf(ns, sizeof ns, "%zuattn_%s", strlen("attn_") + strlen(suffix), suffix);
    size_t len = strlen(ns);
    char *all = malloc(n + 1), *o = all;
    for (size_t i = 0; all && i < n;) {
        if (i + len <= n && !memcmp(ptx + i, ns, len)) memcpy(o, "NS", 2), o += 2, i += len;
        else *o++ = ptx[i++];
    }
    if (!all) return NULL;
    *o = '\0';
    char *code = malloc(strlen(all) + 1), *c = code;
    for (char *line = all; code && *line;) {
        char *end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        char *eq = strstr(line, " = "), *sym = eq;
        while (sym && sym > line && sym[-1] != ' ') sym--;
        bool unread = false;
        if (!strncmp(line, ".global ", 8) && eq && eq < end) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - sym), sym);
            unread = occurrences(all, name) == 1;
        }
        if (!unread) memcpy(c, line, (size_t)(end - line)), c += end - line;
        line = end;
    }
    if (code) *c = '\0';
    free(all);
    return code;
}

/* The attention instance of tiny at head_dim 64 (where every form of its
 * kernels exists) under knobs k, with only kernel `key` rendered. */
static EmitInstance attention_under(TuneKnobs k, const char *key) {
    ModelSpec s;
    bool ok = spec_load("models/tiny.yaml", NULL, 0, &s);
    diag_reset();
    if (!ok) test_fail(__FILE__, __LINE__, "models/tiny.yaml loads");
    s.model.dim = 128, s.model.heads = 2, s.model.head_dim = 64;
    static KernelSet p;
    emit_kernel_set(&s, &p);
    EmitInstance in = p.inst[p.n - 1];
    if (strcmp(in.family, "attention")) test_fail(__FILE__, __LINE__, "attention is the last instance");
    tune_apply(&in, k);
    for (int i = 0; i < in.nkernels; i++) in.kernels[i].off = strcmp(in.kernels[i].key, key) != 0;
    return in;
}

/* Each pair: the same knobs for kernel `key`, others changed (same: the
 * PTX must be the same and so the name), or one of its own changed. */
NVRTC_TEST(attention_kernels_read_only_their_knobs) {
    const TuneKnobs base = {.threads = 128, .vec = 8, .tile = 64, .fwd_kn = 64, .dq_kn = 32, .dkdv_qn = 32, .minb = 1,
                            .dq_src = 2, .stages = 3, .fwd_mma = 3, .dkdv_mma = 2, .dq_mma = 2};
    TuneKnobs fwd = base, pre = base, dkdv = base, dq = base, own = base;
    fwd.dq_kn = 64, fwd.dkdv_qn = 64, fwd.dq_src = 1, fwd.dkdv_mma = 1, fwd.dq_mma = 1;
    pre.fwd_kn = 128, pre.fwd_mma = 1, pre.stages = 2, pre.dq_kn = 64, pre.dkdv_qn = 16, pre.dq_src = 1,
    pre.dkdv_mma = 1, pre.dq_mma = 1;
    dkdv.fwd_kn = 128, dkdv.fwd_mma = 2, dkdv.dq_kn = 64, dkdv.dq_mma = 1;
    dq.fwd_kn = 128, dq.fwd_mma = 2, dq.dkdv_qn = 64, dq.dkdv_mma = 1;
    own.dkdv_qn = 64;
    const struct {
        const char *key;
        TuneKnobs other;
        bool same;
    } pairs[] = {{"FWD", fwd, true}, {"PRE", pre, true}, {"DKDV", dkdv, true}, {"DQ", dq, true}, {"DKDV", own, false}};
    enum { NPAIRS = sizeof pairs / sizeof *pairs };
    EmitInstance in[2 * NPAIRS];
    StrBuf src[2 * NPAIRS] = {{0}};
    NvrtcHeader headers[NVRTC_MAX_HEADERS];
    NvrtcJob jobs[2 * NPAIRS];
    int nheaders = nvrtc_template_headers(headers, NVRTC_MAX_HEADERS);
    char err[256] = "";
    for (int i = 0; i < 2 * NPAIRS; i++) {
        in[i] = attention_under(i % 2 ? pairs[i / 2].other : base, pairs[i / 2].key);
        KernelSet one = {.n = 1};
        one.inst[0] = in[i];
        CHECK(emit_kernels(&one, &src[i], err, sizeof err));
        jobs[i] = (NvrtcJob){"variants.cu", sb_str(&src[i]), headers, nheaders, "sm_90a", true};
    }
    NvrtcOutput out[2 * NPAIRS];
    nvrtc_compile_all(jobs, 2 * NPAIRS, &(NvrtcConfig){nvrtc_workers_here(), NULL}, out);
    for (int p = 0; p < NPAIRS; p++) {
        const NvrtcOutput *a = &out[2 * p], *b = &out[2 * p + 1];
        CHECK(a->ok && b->ok && a->nkernels >= 1 && b->nkernels >= 1);
        if (!a->ok || !b->ok) continue;
        char *pa = ptx_code(a->ptx, a->ptx_size, in[2 * p].suffix);
        char *pb = ptx_code(b->ptx, b->ptx_size, in[2 * p + 1].suffix);
        int k = 0;
        while (strcmp(in[2 * p].kernels[k].key, pairs[p].key)) k++;
        bool same_ptx = pa && pb && !strcmp(pa, pb);
        bool same_name = !strcmp(in[2 * p].kernels[k].name, in[2 * p + 1].kernels[k].name);
        if (same_ptx != pairs[p].same || same_name != pairs[p].same)
            printf("  %s: PTX %s, names %s and %s\n", pairs[p].key, same_ptx ? "same" : "differs",
                   in[2 * p].kernels[k].name, in[2 * p + 1].kernels[k].name);
        CHECK(same_ptx == pairs[p].same && same_name == pairs[p].same);
        free(pa);
        free(pb);
    }
    for (int i = 0; i < 2 * NPAIRS; i++) nvrtc_output_free(&out[i]), sb_free(&src[i]);
}
