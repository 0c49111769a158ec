/*
 * nvrtc.c: NVRTC through dlopen, the compile cache, the thread pool and the
 * ptxas report parser (see nvrtc.h for what and why).
 *
 * A job is: hash its inputs into a key; read DIR/<key>.nvrtc if it exists
 * and is whole; otherwise compile, and store the result when NVRTC
 * succeeded. Either way the log is parsed into per-kernel resources.
 */
#define _GNU_SOURCE /* dladdr: the path of the loaded library, for the cache key */
#include "compiler/codegen/nvrtc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler/codegen/template.h"

#include "compiler/util/fsutil.h"
#include "compiler/util/sha256.h"

/* ---- the library ---- */

typedef struct NvrtcProg *NvrtcProgram; /* nvrtc.h's nvrtcProgram */

static struct {
    bool ok;
    char why[1024];
    int major, minor;
    char identity[1200]; /* version, path and size: part of every cache key */
    char include_opt[1100];
    const char *(*error_string)(int);
    int (*version)(int *, int *);
    int (*create)(NvrtcProgram *, const char *, const char *, int, const char *const *,
                  const char *const *);
    int (*destroy)(NvrtcProgram *);
    int (*compile)(NvrtcProgram, int, const char *const *);
    int (*log_size)(NvrtcProgram, size_t *);
    int (*log)(NvrtcProgram, char *);
    int (*cubin_size)(NvrtcProgram, size_t *);
    int (*cubin)(NvrtcProgram, char *);
    int (*ptx_size)(NvrtcProgram, size_t *);
    int (*ptx)(NvrtcProgram, char *);
} nv;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static atomic_long hits, compiles;

static void *open_first(char *tried, size_t triedlen) {
    const char *only = getenv("GPTC_NVRTC_LIB");
    if (only && *only) {
        snprintf(tried, triedlen, "%s (from GPTC_NVRTC_LIB)", only);
        return dlopen(only, RTLD_NOW | RTLD_LOCAL);
    }
    const char *home = getenv("CUDA_HOME");
    char paths[6][1024];
    int n = 0;
    snprintf(paths[n++], sizeof paths[0], "libnvrtc.so.13");
    snprintf(paths[n++], sizeof paths[0], "libnvrtc.so");
    if (home && *home) {
        snprintf(paths[n++], sizeof paths[0], "%.1000s/lib64/libnvrtc.so.13", home);
        snprintf(paths[n++], sizeof paths[0], "%.1000s/lib64/libnvrtc.so", home);
    }
    snprintf(paths[n++], sizeof paths[0], "/usr/local/cuda/lib64/libnvrtc.so.13");
    snprintf(paths[n++], sizeof paths[0], "/usr/local/cuda/lib64/libnvrtc.so");
    tried[0] = '\0';
    for (int i = 0; i < n; i++) {
        void *lib = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (lib) return lib;
        size_t used = strlen(tried);
        snprintf(tried + used, triedlen - used, "%s%s", i ? ", " : "", paths[i]);
    }
    return NULL;
}

static bool sym(void *lib, const char *name, void *slot) {
    void *p = dlsym(lib, name);
    if (!p) return false;
    memcpy(slot, &p, sizeof p); /* object pointer to function pointer, as POSIX allows */
    return true;
}

/* The toolkit's include directory: $CUDA_HOME/include, else the one beside
 * the library's lib directory, else /usr/local/cuda/include. */
static void find_include(const char *libpath) {
    char cand[3][1024];
    int n = 0; /* paths past 1000 bytes are cut, and then simply not found */
    const char *home = getenv("CUDA_HOME");
    if (home && *home) snprintf(cand[n++], sizeof cand[0], "%.1000s/include", home);
    const char *slash = strrchr(libpath, '/');
    if (slash) snprintf(cand[n++], sizeof cand[0], "%.*s/../include", (int)(slash - libpath), libpath);
    snprintf(cand[n++], sizeof cand[0], "/usr/local/cuda/include");
    int pick = n - 1;
    for (int i = 0; i < n; i++) {
        char probe[1100];
        snprintf(probe, sizeof probe, "%.1024s/cuda_bf16.h", cand[i]);
        if (access(probe, R_OK) == 0) {
            pick = i;
            break;
        }
    }
    snprintf(nv.include_opt, sizeof nv.include_opt, "-I%.1024s", cand[pick]);
}

static void load(void) {
    char tried[2048];
    void *lib = open_first(tried, sizeof tried);
    if (!lib) {
        snprintf(nv.why, sizeof nv.why,
                 "NVRTC not found (tried %.900s); install the CUDA toolkit or set CUDA_HOME", tried);
        return;
    }
    static const char *names[] = {"nvrtcGetErrorString", "nvrtcVersion",        "nvrtcCreateProgram",
                                  "nvrtcDestroyProgram", "nvrtcCompileProgram", "nvrtcGetProgramLogSize",
                                  "nvrtcGetProgramLog",  "nvrtcGetCUBINSize",   "nvrtcGetCUBIN",
                                  "nvrtcGetPTXSize",     "nvrtcGetPTX"};
    void *slots[] = {&nv.error_string, &nv.version,    &nv.create, &nv.destroy,  &nv.compile, &nv.log_size,
                     &nv.log,          &nv.cubin_size, &nv.cubin,  &nv.ptx_size, &nv.ptx};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!sym(lib, names[i], slots[i])) {
            snprintf(nv.why, sizeof nv.why, "NVRTC found but unusable: it has no %s (too old?)", names[i]);
            return;
        }
    if (nv.version(&nv.major, &nv.minor) != 0) {
        snprintf(nv.why, sizeof nv.why, "NVRTC found but nvrtcVersion failed");
        return;
    }
    Dl_info info;
    const char *path = dladdr(dlsym(lib, "nvrtcVersion"), &info) && info.dli_fname ? info.dli_fname : "?";
    struct stat st;
    long long size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    snprintf(nv.identity, sizeof nv.identity, "nvrtc %d.%d %s %lld", nv.major, nv.minor, path, size);
    find_include(path);
    nv.ok = true;
}

bool nvrtc_load(char *why, size_t whylen) {
    pthread_once(&load_once, load);
    if (!nv.ok && why) snprintf(why, whylen, "%s", nv.why);
    return nv.ok;
}

bool nvrtc_version(int *major, int *minor) {
    if (!nvrtc_load(NULL, 0)) return false;
    *major = nv.major, *minor = nv.minor;
    return true;
}

long nvrtc_cache_hits(void) { return atomic_load(&hits); }
long nvrtc_compiles(void) { return atomic_load(&compiles); }

/* ---- options and keys ---- */

enum { MAX_OPTS = 8 };

static int options(const char *arch, char archopt[64], const char *opts[MAX_OPTS]) {
    snprintf(archopt, 64, "--gpu-architecture=%s", arch);
    int n = 0;
    opts[n++] = archopt;
    opts[n++] = nv.include_opt;
    opts[n++] = "--std=c++17";
    opts[n++] = "-default-device";
    opts[n++] = "--ptxas-options=-v";
    opts[n++] = "--fmad=false";
    return n;
}

static void hash_piece(Sha256 *h, const char *label, const char *text) {
    char len[48];
    snprintf(len, sizeof len, "\n%s %zu\n", label, strlen(text));
    sha256_update(h, len, strlen(len));
    sha256_update(h, text, strlen(text));
}

static void job_key(const NvrtcJob *j, const char *const *opts, int nopts, char key[65]) {
    Sha256 h;
    sha256_init(&h);
    hash_piece(&h, "gptc-nvrtc-cache", "1");
    hash_piece(&h, "library", nv.identity);
    for (int i = 0; i < nopts; i++) hash_piece(&h, "option", opts[i]);
    hash_piece(&h, "program", j->name);
    hash_piece(&h, "source", j->source);
    for (int i = 0; i < j->nheaders; i++) {
        hash_piece(&h, "header", j->headers[i].name);
        hash_piece(&h, "text", j->headers[i].text);
    }
    sha256_hex(&h, key);
}

/* ---- the cache: "GPTC-NVRTC 1\n<key>\n<log> <cubin> <ptx>\n" then the three blobs ---- */

static void entry_path(char *buf, size_t len, const char *dir, const char *key) {
    snprintf(buf, len, "%s/%s.nvrtc", dir, key);
}

static char *dup_bytes(const char *p, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static bool cache_read(const char *dir, const char *key, NvrtcOutput *o, bool want_ptx) {
    char path[4200], got[65];
    entry_path(path, sizeof path, dir, key);
    size_t len, nlog, ncubin, nptx;
    char *data = fs_read(path, &len);
    if (!data) return false;
    int head = 0;
    bool whole = sscanf(data, "GPTC-NVRTC 1\n%64[0-9a-f]\n%zu %zu %zu\n%n", got, &nlog, &ncubin, &nptx,
                        &head) == 4 &&
                 head > 0 && !strcmp(got, key) && nlog <= len && ncubin <= len && nptx <= len &&
                 (size_t)head + nlog + ncubin + nptx == len;
    if (whole) {
        const char *p = data + head;
        o->log = dup_bytes(p, nlog);
        o->cubin = (unsigned char *)dup_bytes(p + nlog, ncubin);
        o->cubin_size = ncubin;
        if (want_ptx) o->ptx = dup_bytes(p + nlog + ncubin, nptx), o->ptx_size = nptx;
        whole = o->log && o->cubin && (!want_ptx || o->ptx);
    }
    free(data);
    return whole;
}

static void cache_write(const char *dir, const char *key, NvrtcOutput *o, const char *ptx, size_t nptx) {
    char path[4200], head[160];
    entry_path(path, sizeof path, dir, key);
    snprintf(head, sizeof head, "GPTC-NVRTC 1\n%s\n%zu %zu %zu\n", key, strlen(o->log), o->cubin_size,
             nptx);
    const void *pieces[] = {head, o->log, o->cubin, ptx};
    size_t lens[] = {strlen(head), strlen(o->log), o->cubin_size, nptx};
    char err[512];
    if (!fs_mkdir_p(dir, err, sizeof err) || !fs_write_atomic(path, pieces, lens, 4, err, sizeof err))
        snprintf(o->cache_note, sizeof o->cache_note, "compile cache not written: %.480s", err);
}

/* ---- one compile ---- */

/* Copies one of the program's outputs (log, CUBIN, PTX) into a new buffer. */
static char *fetch(NvrtcProgram prog, int (*size_fn)(NvrtcProgram, size_t *),
                   int (*get_fn)(NvrtcProgram, char *), size_t *n) {
    *n = 0;
    if (size_fn(prog, n) != 0) return NULL;
    char *buf = calloc(*n + 1, 1);
    if (buf && *n && get_fn(prog, buf) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *compile(const NvrtcJob *j, const char *const *opts, int nopts, NvrtcOutput *o, size_t *nptx) {
    const char *names[NVRTC_MAX_HEADERS], *texts[NVRTC_MAX_HEADERS];
    int nh = j->nheaders < NVRTC_MAX_HEADERS ? j->nheaders : NVRTC_MAX_HEADERS;
    for (int i = 0; i < nh; i++) names[i] = j->headers[i].name, texts[i] = j->headers[i].text;
    NvrtcProgram prog = NULL;
    int rc = nv.create(&prog, j->source, j->name, nh, texts, names);
    if (rc != 0) {
        snprintf(o->error, sizeof o->error, "nvrtcCreateProgram: %s", nv.error_string(rc));
        return NULL;
    }
    atomic_fetch_add(&compiles, 1);
    rc = nv.compile(prog, nopts, opts);
    size_t nlog;
    o->log = fetch(prog, nv.log_size, nv.log, &nlog);
    char *ptx = NULL;
    if (rc != 0) {
        snprintf(o->error, sizeof o->error, "NVRTC failed for %s: %s", j->arch, nv.error_string(rc));
    } else {
        o->cubin = (unsigned char *)fetch(prog, nv.cubin_size, nv.cubin, &o->cubin_size);
        ptx = fetch(prog, nv.ptx_size, nv.ptx, nptx);
        if (*nptx && ptx[*nptx - 1] == '\0') (*nptx)--; /* NVRTC counts the NUL */
        o->ok = o->log && o->cubin && o->cubin_size > 0 && ptx;
        if (!o->ok) snprintf(o->error, sizeof o->error, "NVRTC gave no CUBIN for %s", j->arch);
    }
    nv.destroy(&prog);
    return ptx;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_job(const NvrtcJob *j, const char *cache_dir, NvrtcOutput *o) {
    double t0 = now();
    char why[1024];
    if (!nvrtc_load(why, sizeof why)) {
        snprintf(o->error, sizeof o->error, "%.511s", why);
    } else {
        char archopt[64], key[65];
        const char *opts[MAX_OPTS];
        int nopts = options(j->arch, archopt, opts);
        job_key(j, opts, nopts, key);
        if (*cache_dir && cache_read(cache_dir, key, o, j->want_ptx)) {
            o->ok = o->cached = true;
            atomic_fetch_add(&hits, 1);
        } else {
            nvrtc_output_free(o);
            size_t nptx = 0;
            char *ptx = compile(j, opts, nopts, o, &nptx);
            if (o->ok && *cache_dir) cache_write(cache_dir, key, o, ptx, nptx);
            if (j->want_ptx) o->ptx = ptx, o->ptx_size = nptx;
            else free(ptx);
        }
    }
    if (!o->log) o->log = calloc(1, 1);
    if (o->log) o->nkernels = nvrtc_parse_log(o->log, &o->kernels, &o->warnings);
    o->seconds = now() - t0;
}

/* ---- the pool ---- */

typedef struct {
    const NvrtcJob *jobs;
    NvrtcOutput *out;
    int n, next;
    const char *cache_dir;
    pthread_mutex_t mu;
} Pool;

static void *worker(void *arg) {
    Pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n) return NULL;
        run_job(&p->jobs[i], p->cache_dir, &p->out[i]);
    }
}

/* $GPTC_CACHE_DIR, $XDG_CACHE_HOME/gptc (an absolute one only, as the XDG
 * spec says), ~/.cache/gptc; false, and no cache, when none is set. */
bool nvrtc_default_cache_dir(char *buf, size_t len) {
    const char *v;
    if ((v = getenv("GPTC_CACHE_DIR")) && *v) return snprintf(buf, len, "%s", v), true;
    if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/') return snprintf(buf, len, "%s/gptc", v), true;
    if ((v = getenv("HOME")) && *v) return snprintf(buf, len, "%s/.cache/gptc", v), true;
    return false;
}

void nvrtc_compile_all(const NvrtcJob *jobs, int n, const NvrtcConfig *cfg, NvrtcOutput *out) {
    char dir[4096] = "";
    if (cfg->cache_dir) snprintf(dir, sizeof dir, "%s", cfg->cache_dir);
    else nvrtc_default_cache_dir(dir, sizeof dir);
    memset(out, 0, sizeof *out * (size_t)n);
    Pool p = {.jobs = jobs, .out = out, .n = n, .cache_dir = dir};
    pthread_mutex_init(&p.mu, NULL);
    int workers = cfg->workers > 0 ? cfg->workers : NVRTC_DEFAULT_WORKERS;
    if (workers > n) workers = n;
    pthread_t tids[NVRTC_MAX_WORKERS];
    int started = 0;
    while (started < workers - 1 && started < NVRTC_MAX_WORKERS &&
           pthread_create(&tids[started], NULL, worker, &p) == 0)
        started++;
    worker(&p); /* this thread is a worker too; with no threads it does it all */
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&p.mu);
}

void nvrtc_output_free(NvrtcOutput *o) {
    free(o->log);
    free(o->cubin);
    free(o->ptx);
    free(o->kernels);
    o->log = o->ptx = NULL;
    o->cubin = NULL;
    o->kernels = NULL;
    o->cubin_size = o->ptx_size = 0;
    o->nkernels = 0;
}

/* ---- the ptxas report ----
 *
 *   ptxas info    : Compiling entry function 'relu2_fwd_m512' for 'sm_90a'
 *   ptxas info    : Function properties for relu2_fwd_m512
 *   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
 *   ptxas info    : Used 17 registers, used 0 barriers, 1024 bytes smem, 376 bytes cmem[0]
 *
 * "Function properties" also comes for device functions that were not
 * inlined: they get a record of their own (entry = false), so that their
 * spills are seen too. "Used ..." belongs to the last entry function.
 */

typedef struct {
    KernelRes *k;
    int n, cap;
} ResList;

/* The index of the record called `name`, added if new; -1 if out of memory. */
static int res_get(ResList *l, const char *name, bool entry) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->k[i].name, name)) return i;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        KernelRes *bigger = realloc(l->k, sizeof *bigger * (size_t)cap);
        if (!bigger) return -1;
        l->k = bigger, l->cap = cap;
    }
    KernelRes *r = &l->k[l->n];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->entry = entry;
    return l->n++;
}

/* The integer just before `suffix` in `line`, or 0 when it is not there. */
static int number_before(const char *line, const char *suffix) {
    const char *at = strstr(line, suffix);
    if (!at) return 0;
    const char *p = at;
    while (p > line && p[-1] >= '0' && p[-1] <= '9') p--;
    return p < at ? atoi(p) : 0;
}

/* NVRTC's front end writes "kernels.cu(9): warning #177-D: ...", ptxas
 * "ptxas warning : ..." and, for some lost optimisations, "(C7508)
 * Potential Performance Loss: ...". A line that merely mentions warnings
 * ("Remark: The warnings can be suppressed ...") is not one. */
static bool is_warning(const char *line) {
    return strstr(line, ": warning") || strstr(line, "warning :") || strstr(line, "Performance Loss");
}

/* Records are kept by index: res_get may move the list. */
static void parse_line(const char *line, ResList *l, int *entry, int *props) {
    char name[128];
    const char *p;
    if ((p = strstr(line, "Compiling entry function '")) &&
        sscanf(p, "Compiling entry function '%127[^']'", name) == 1) {
        *entry = *props = res_get(l, name, true);
        if (*entry >= 0) l->k[*entry].entry = true;
    } else if ((p = strstr(line, "Function properties for ")) &&
               sscanf(p, "Function properties for %127s", name) == 1) {
        *props = res_get(l, name, false);
    } else if (strstr(line, "bytes stack frame") && *props >= 0) {
        KernelRes *r = &l->k[*props];
        r->stack_bytes = number_before(line, " bytes stack frame");
        r->spill_store_bytes = number_before(line, " bytes spill stores");
        r->spill_load_bytes = number_before(line, " bytes spill loads");
    } else if ((p = strstr(line, "Used ")) && *entry >= 0) {
        KernelRes *r = &l->k[*entry];
        sscanf(p, "Used %d registers", &r->registers);
        r->barriers = number_before(line, " barriers");
        r->smem_bytes = number_before(line, " bytes smem");
    }
}

int nvrtc_parse_log(const char *log, KernelRes **out, int *warnings) {
    ResList l = {0};
    int entry = -1, props = -1;
    *warnings = 0;
    while (*log) {
        const char *eol = strchr(log, '\n');
        size_t n = eol ? (size_t)(eol - log) : strlen(log);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), log);
        *warnings += is_warning(line);
        parse_line(line, &l, &entry, &props);
        log += n + (eol != NULL);
    }
    *out = l.k;
    return l.n;
}

int nvrtc_template_headers(NvrtcHeader *h, int max) {
    int n = 0;
    for (int i = 0; i < tpl_file_count && n < max; i++) {
        size_t len = strlen(tpl_files[i].name);
        if (len > 4 && !strcmp(tpl_files[i].name + len - 4, ".cuh"))
            h[n++] = (NvrtcHeader){tpl_files[i].name, tpl_files[i].text};
    }
    return n;
}

int nvrtc_workers_here(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > NVRTC_MAX_WORKERS ? NVRTC_MAX_WORKERS : (int)n;
}
