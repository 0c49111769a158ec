/*
 * cublaslt.c: cuBLASLt through dlopen, and GpuGemm on it (see cublaslt.h).
 */
#include "runtime/device/cuda/cublaslt.h"

#include <cublasLt.h>
#include <dlfcn.h>
#include <glob.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the library ---- */

static struct {
    bool ok;
    char why[1536];
    const char *(*status_name)(cublasStatus_t);
    size_t (*version)(void);
    cublasStatus_t (*create)(cublasLtHandle_t *);
    cublasStatus_t (*destroy)(cublasLtHandle_t);
    cublasStatus_t (*desc_create)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t);
    cublasStatus_t (*desc_destroy)(cublasLtMatmulDesc_t);
    cublasStatus_t (*desc_set)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *, size_t);
    cublasStatus_t (*layout_create)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t);
    cublasStatus_t (*layout_destroy)(cublasLtMatrixLayout_t);
    cublasStatus_t (*layout_set)(cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void *, size_t);
    cublasStatus_t (*pref_create)(cublasLtMatmulPreference_t *);
    cublasStatus_t (*pref_destroy)(cublasLtMatmulPreference_t);
    cublasStatus_t (*pref_set)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void *,
                               size_t);
    cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t *, int *);
    cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                             cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *,
                             const void *, cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,
                             const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t);
    cublasStatus_t (*algo_init)(cublasLtHandle_t, cublasComputeType_t, cudaDataType_t, cudaDataType_t,
                                cudaDataType_t, cudaDataType_t, cudaDataType_t, int, cublasLtMatmulAlgo_t *);
    cublasStatus_t (*algo_get)(const cublasLtMatmulAlgo_t *, cublasLtMatmulAlgoConfigAttributes_t, void *, size_t,
                               size_t *);
    cublasStatus_t (*algo_set)(cublasLtMatmulAlgo_t *, cublasLtMatmulAlgoConfigAttributes_t, const void *, size_t);
    cublasStatus_t (*algo_check)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                 cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                 const cublasLtMatmulAlgo_t *, cublasLtMatmulHeuristicResult_t *);
} lt;

static pthread_once_t lt_once = PTHREAD_ONCE_INIT;

#define LIBNAME "libcublasLt.so.13"

static void note_tried(char *tried, size_t cap, const char *path) {
    size_t used = strlen(tried);
    const char *parts[2] = {used ? ", " : "", path};
    for (int i = 0; i < 2; i++)
        for (const char *p = parts[i]; *p && used + 1 < cap; p++) tried[used++] = *p;
    tried[used] = '\0';
}

static void *try_open(const char *path, char *tried, size_t cap) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) note_tried(tried, cap, path);
    return lib;
}

/* The first match of a glob pattern that opens. */
static void *try_glob(const char *pattern, char *tried, size_t cap) {
    glob_t g;
    void *lib = NULL;
    if (glob(pattern, 0, NULL, &g) != 0) {
        note_tried(tried, cap, pattern);
        return NULL;
    }
    for (size_t i = 0; i < g.gl_pathc && !lib; i++) lib = try_open(g.gl_pathv[i], tried, cap);
    globfree(&g);
    return lib;
}

static void *open_lib(char *tried, size_t cap) {
    const char *only = getenv("GPTC_CUBLASLT_LIB");
    if (only && *only) return try_open(only, tried, cap);
    char path[1200];
    void *lib = try_open(LIBNAME, tried, cap);
    const char *home = getenv("CUDA_HOME");
    if (!lib && home && *home) {
        snprintf(path, sizeof path, "%.1000s/lib64/" LIBNAME, home);
        lib = try_open(path, tried, cap);
    }
    if (!lib) lib = try_open("/usr/local/cuda/lib64/" LIBNAME, tried, cap);
    /* The CUDA wheels PyTorch installs: nvidia/cublas/lib (CUDA 12 style)
     * and nvidia/cu13/lib (CUDA 13), in each usual site-packages. */
    const char *env[] = {getenv("VIRTUAL_ENV"), getenv("CONDA_PREFIX"), getenv("HOME")};
    char sites[6][700];
    int nsites = 0;
    for (int i = 0; i < 3; i++)
        if (env[i] && *env[i])
            snprintf(sites[nsites++], sizeof sites[0], "%.600s/%slib/python3*/site-packages", env[i],
                     i == 2 ? ".local/" : "");
    snprintf(sites[nsites++], sizeof sites[0], "/usr/local/lib/python3*/dist-packages");
    snprintf(sites[nsites++], sizeof sites[0], "/usr/local/lib/python3*/site-packages");
    snprintf(sites[nsites++], sizeof sites[0], "/usr/lib/python3/dist-packages");
    for (int i = 0; i < nsites && !lib; i++)
        for (int j = 0; j < 2 && !lib; j++) {
            snprintf(path, sizeof path, "%.700s/nvidia/%s/lib/" LIBNAME, sites[i], j ? "cu13" : "cublas");
            lib = try_glob(path, tried, cap);
        }
    return lib;
}

static bool sym(void *lib, const char *name, void *slot) {
    void *p = dlsym(lib, name);
    if (!p) return false;
    memcpy(slot, &p, sizeof p);
    return true;
}

static void load(void) {
    char tried[1200] = "";
    void *lib = open_lib(tried, sizeof tried);
    if (!lib) {
        snprintf(lt.why, sizeof lt.why, "cuBLASLt not found (tried %.1200s)", tried);
        return;
    }
    static const char *names[] = {"cublasLtGetStatusName",
                                  "cublasLtGetVersion",
                                  "cublasLtCreate",
                                  "cublasLtDestroy",
                                  "cublasLtMatmulDescCreate",
                                  "cublasLtMatmulDescDestroy",
                                  "cublasLtMatmulDescSetAttribute",
                                  "cublasLtMatrixLayoutCreate",
                                  "cublasLtMatrixLayoutDestroy",
                                  "cublasLtMatrixLayoutSetAttribute",
                                  "cublasLtMatmulPreferenceCreate",
                                  "cublasLtMatmulPreferenceDestroy",
                                  "cublasLtMatmulPreferenceSetAttribute",
                                  "cublasLtMatmulAlgoGetHeuristic",
                                  "cublasLtMatmul",
                                  "cublasLtMatmulAlgoInit",
                                  "cublasLtMatmulAlgoConfigGetAttribute",
                                  "cublasLtMatmulAlgoConfigSetAttribute",
                                  "cublasLtMatmulAlgoCheck"};
    void *slots[] = {&lt.status_name, &lt.version,       &lt.create,        &lt.destroy,   &lt.desc_create,
                     &lt.desc_destroy, &lt.desc_set,     &lt.layout_create, &lt.layout_destroy,
                     &lt.layout_set,  &lt.pref_create,   &lt.pref_destroy,  &lt.pref_set,  &lt.heuristic,
                     &lt.matmul,      &lt.algo_init,     &lt.algo_get,      &lt.algo_set,  &lt.algo_check};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!sym(lib, names[i], slots[i])) {
            snprintf(lt.why, sizeof lt.why, "cuBLASLt found but unusable: it has no %s", names[i]);
            return;
        }
    lt.ok = true;
}

bool cublaslt_load(char *why, size_t cap) {
    pthread_once(&lt_once, load);
    if (!lt.ok && why) snprintf(why, cap, "%s", lt.why);
    return lt.ok;
}

size_t cublaslt_version(void) { return cublaslt_load(NULL, 0) ? lt.version() : 0; }

static const char *status(cublasStatus_t s) {
    const char *n = lt.status_name ? lt.status_name(s) : NULL;
    return n ? n : "unknown cuBLAS status";
}

/* ---- checking a GEMM ---- */


/* ---- plans: descriptors and algorithm per shape ---- */

typedef struct {
    int m, n, k, batch, trans_a, trans_b;
    int a_type, b_type, c_type, beta_zero;
    long long lda, ldb, ldc, stride_a, stride_b, stride_c;
    int align_a, align_b, align_c;
} PlanKey;

typedef struct {
    PlanKey key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc; /* cuBLASLt's A (our B), B (our A), C = D */
    cublasLtMatmulAlgo_t algo;
} LtPlan;

#define MAX_PLANS 256

struct CublasLt {
    cublasLtHandle_t handle;
    CUstream stream;
    CUdeviceptr workspace;
    LtPlan plans[MAX_PLANS];
    int nplans;
    struct {
        char key[64];
        GpuGemmAlgo a;
    } prefs[MAX_PLANS]; /* cublaslt_use's algorithms, by shape */
    int nprefs;
};

CublasLt *cublaslt_open(CUstream stream, CUdeviceptr workspace, char *why, size_t cap) {
    if (!cublaslt_load(why, cap)) return NULL;
    CublasLt *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    cublasStatus_t s = lt.create(&c->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, cap, "cublasLtCreate: %s", status(s));
        free(c);
        return NULL;
    }
    c->stream = stream, c->workspace = workspace;
    return c;
}

static void lt_plan_free(LtPlan *p) {
    if (p->desc) lt.desc_destroy(p->desc);
    if (p->la) lt.layout_destroy(p->la);
    if (p->lb) lt.layout_destroy(p->lb);
    if (p->lc) lt.layout_destroy(p->lc);
    memset(p, 0, sizeof *p);
}

void cublaslt_close(CublasLt *c) {
    if (!c) return;
    for (int i = 0; i < c->nplans; i++) lt_plan_free(&c->plans[i]);
    lt.destroy(c->handle);
    free(c);
}

/* The largest power of two up to 256 that divides the address. */
static int alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    int al = 1;
    while (al < 256 && a % (uintptr_t)(al * 2) == 0) al *= 2;
    return al;
}

static PlanKey key_of(const GpuGemm *mm) {
    PlanKey k;
    memset(&k, 0, sizeof k); /* the padding too: keys are compared with memcmp */
    k.m = mm->m, k.n = mm->n, k.k = mm->k, k.batch = mm->batch;
    k.trans_a = !!mm->trans_a, k.trans_b = !!mm->trans_b;
    k.a_type = mm->a_type, k.b_type = mm->b_type, k.c_type = mm->c_type, k.beta_zero = mm->beta == 0.0f;
    k.lda = mm->lda, k.ldb = mm->ldb, k.ldc = mm->ldc;
    if (mm->batch > 1) k.stride_a = mm->stride_a, k.stride_b = mm->stride_b, k.stride_c = mm->stride_c;
    k.align_a = alignment(mm->a), k.align_b = alignment(mm->b), k.align_c = alignment(mm->c);
    return k;
}

static cudaDataType_t dtype(int t) { return t == GPU_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

/* A column-major layout of rows x cols with leading dimension ld, batched. */
static cublasStatus_t layout(cublasLtMatrixLayout_t *l, int t, long long rows, long long cols, long long ld,
                             int batch, long long stride) {
    cublasStatus_t s = lt.layout_create(l, dtype(t), (uint64_t)rows, (uint64_t)cols, ld);
    if (s == CUBLAS_STATUS_SUCCESS && batch > 1) {
        int32_t b = batch;
        int64_t st = stride;
        s = lt.layout_set(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b, sizeof b);
        if (s == CUBLAS_STATUS_SUCCESS) s = lt.layout_set(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &st, sizeof st);
    }
    return s;
}

/* Descriptors for the column-major C^T [n, m] = op(B)^T [n, k] op(A)^T [k, m]. */
static int plan_descriptors(LtPlan *p, char *err, size_t cap) {
    const PlanKey *k = &p->key;
    cublasOperation_t op_first = k->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_second = k->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t s = lt.desc_create(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const char *call = "cublasLtMatmulDescCreate";
    if (s == CUBLAS_STATUS_SUCCESS) {
        call = "cublasLtMatmulDescSetAttribute";
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first);
        if (s == CUBLAS_STATUS_SUCCESS) s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second);
    }
    if (s == CUBLAS_STATUS_SUCCESS) {
        call = "cublasLtMatrixLayoutCreate";
        /* B row-major [k, n] (or [n, k] transposed) is column-major [n, k] (or [k, n]). */
        s = layout(&p->la, k->b_type, k->trans_b ? k->k : k->n, k->trans_b ? k->n : k->k, k->ldb, k->batch,
                   k->stride_b);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = layout(&p->lb, k->a_type, k->trans_a ? k->m : k->k, k->trans_a ? k->k : k->m, k->lda, k->batch,
                       k->stride_a);
        if (s == CUBLAS_STATUS_SUCCESS) s = layout(&p->lc, k->c_type, k->n, k->m, k->ldc, k->batch, k->stride_c);
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, cap, "%s: %s", call, status(s));
        return -1;
    }
    return 0;
}

/* The heuristic's best `want` algorithms for p's shape into res; how many,
 * or -1 with err. */
static int heuristic(CublasLt *c, LtPlan *p, cublasLtMatmulHeuristicResult_t *res, int want, char *err, size_t cap) {
    cublasLtMatmulPreference_t pref;
    cublasStatus_t s = lt.pref_create(&pref);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, cap, "cublasLtMatmulPreferenceCreate: %s", status(s));
        return -1;
    }
    uint64_t ws = CUBLASLT_WORKSPACE_BYTES;
    /* cuBLASLt assumes 256-byte aligned matrices unless told otherwise. */
    uint32_t al[3] = {(uint32_t)p->key.align_b, (uint32_t)p->key.align_a, (uint32_t)p->key.align_c};
    s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (s == CUBLAS_STATUS_SUCCESS) s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], 4);
    if (s == CUBLAS_STATUS_SUCCESS) s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], 4);
    if (s == CUBLAS_STATUS_SUCCESS) s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], 4);
    if (s == CUBLAS_STATUS_SUCCESS) s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[2], 4);
    /* Split-K partial sums in fp32 only: reducing them in a bf16 output
     * (in place or in the output type) rounds every partial, which broke
     * the one-rounding contract on the GPU (bf16 C, beta 1: 9 ulp). */
    uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    if (s == CUBLAS_STATUS_SUCCESS) s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction, 4);
    if (s != CUBLAS_STATUS_SUCCESS) {
        lt.pref_destroy(pref);
        snprintf(err, cap, "cublasLtMatmulPreferenceSetAttribute: %s", status(s));
        return -1;
    }
    int found = 0;
    s = lt.heuristic(c->handle, p->desc, p->la, p->lb, p->lc, p->lc, pref, want, res, &found);
    lt.pref_destroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || found < 1) {
        const PlanKey *k = &p->key;
        snprintf(err, cap, "cublasLtMatmulAlgoGetHeuristic: %s for m %d n %d k %d batch %d%s%s",
                 s != CUBLAS_STATUS_SUCCESS ? status(s) : "no algorithm", k->m, k->n, k->k, k->batch,
                 k->trans_a ? " trans_a" : "", k->trans_b ? " trans_b" : "");
        return -1;
    }
    return found;
}

static int plan_algorithm(CublasLt *c, LtPlan *p, char *err, size_t cap) {
    cublasLtMatmulHeuristicResult_t res;
    if (heuristic(c, p, &res, 1, err, cap) < 0) return -1;
    p->algo = res.algo;
    return 0;
}

static int plan_preferred(CublasLt *c, LtPlan *p, char *err, size_t cap);

static LtPlan *get_plan(CublasLt *c, const GpuGemm *mm, char *err, size_t cap) {
    PlanKey k = key_of(mm);
    for (int i = 0; i < c->nplans; i++)
        if (!memcmp(&c->plans[i].key, &k, sizeof k)) return &c->plans[i];
    if (c->nplans == MAX_PLANS) { /* more shapes than any model has: start over */
        for (int i = 0; i < c->nplans; i++) lt_plan_free(&c->plans[i]);
        c->nplans = 0;
    }
    LtPlan *p = &c->plans[c->nplans];
    memset(p, 0, sizeof *p);
    p->key = k;
    if (plan_descriptors(p, err, cap) || plan_preferred(c, p, err, cap)) {
        lt_plan_free(p);
        return NULL;
    }
    c->nplans++;
    return p;
}

int cublaslt_gemm(CublasLt *c, const GpuGemm *mm, char *err, size_t cap) {
    char why[400];
    gpu_gemm_check(mm, why, sizeof why);
    if (why[0]) {
        snprintf(err, cap, "gemm: %s", why);
        return -1;
    }
    LtPlan *p = get_plan(c, mm, err, cap);
    if (!p) return -1;
    float alpha = mm->alpha, beta = mm->beta;
    void *ws = (void *)(uintptr_t)c->workspace;
    const void *c_in = mm->c_in ? mm->c_in : mm->c;
    cublasStatus_t s = lt.matmul(c->handle, p->desc, &alpha, mm->b, p->la, mm->a, p->lb, &beta, c_in, p->lc, mm->c,
                                 p->lc, &p->algo, ws, CUBLASLT_WORKSPACE_BYTES, (cudaStream_t)c->stream);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, cap, "cublasLtMatmul (m %d n %d k %d batch %d): %s", mm->m, mm->n, mm->k, mm->batch, status(s));
        return -1;
    }
    return 0;
}

/* ---- other algorithms (gptc tune) ---- */

/* The configuration fields, in GpuGemmAlgo's order, with the width each
 * is stored in (cublasLt.h): a get or set of another size is refused. */
static const struct {
    cublasLtMatmulAlgoConfigAttributes_t attr;
    size_t width;
} algo_fields[] = {
    {CUBLASLT_ALGO_CONFIG_ID, 4},           {CUBLASLT_ALGO_CONFIG_TILE_ID, 4},
    {CUBLASLT_ALGO_CONFIG_STAGES_ID, 4},    {CUBLASLT_ALGO_CONFIG_SPLITK_NUM, 4},
    {CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, 4}, {CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, 4},
    {CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, 4}, {CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, 2},
    {CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, 2}};

enum { NFIELDS = sizeof algo_fields / sizeof algo_fields[0] };

static int *algo_field(GpuGemmAlgo *a, int i) {
    int *f[] = {&a->id, &a->tile, &a->stages, &a->splitk, &a->reduction, &a->swizzle, &a->custom, &a->inner, &a->cluster};
    return f[i];
}

static void read_algo(const cublasLtMatmulAlgo_t *algo, GpuGemmAlgo *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < NFIELDS; i++) {
        uint32_t v32 = 0;
        uint16_t v16 = 0;
        size_t got = 0;
        bool wide = algo_fields[i].width == 4;
        if (lt.algo_get(algo, algo_fields[i].attr, wide ? (void *)&v32 : (void *)&v16, algo_fields[i].width, &got) ==
            CUBLAS_STATUS_SUCCESS)
            *algo_field(out, i) = wide ? (int)v32 : (int)v16;
    }
}

/* Every field but the id (which cublasLtMatmulAlgoInit took). */
static cublasStatus_t write_algo(cublasLtMatmulAlgo_t *algo, const GpuGemmAlgo *a) {
    GpuGemmAlgo fields = *a;
    for (int i = 1; i < NFIELDS; i++) {
        uint32_t v32 = (uint32_t)*algo_field(&fields, i);
        uint16_t v16 = (uint16_t)v32;
        bool wide = algo_fields[i].width == 4;
        cublasStatus_t s = lt.algo_set(algo, algo_fields[i].attr, wide ? (const void *)&v32 : (const void *)&v16,
                                       algo_fields[i].width);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

int cublaslt_algos(CublasLt *c, const GpuGemm *mm, GpuGemmAlgo *out, int max, char *err, size_t cap) {
    LtPlan *p = get_plan(c, mm, err, cap);
    if (!p) return -1;
    cublasLtMatmulHeuristicResult_t res[CUBLASLT_MAX_ALGOS + 1];
    int want = max + 1 > CUBLASLT_MAX_ALGOS + 1 ? CUBLASLT_MAX_ALGOS + 1 : max + 1;
    int found = heuristic(c, p, res, want, err, cap), n = 0;
    for (int i = 1; i < found; i++)
        if (res[i].state == CUBLAS_STATUS_SUCCESS) read_algo(&res[i].algo, &out[n++]);
    return found < 0 ? -1 : n;
}

/* The tuning key of a plan's shape (gpu_gemm_key's). */
static void plan_key_text(const PlanKey *k, char *out, size_t cap) {
    GpuGemm mm = {.m = k->m, .n = k->n, .k = k->k, .batch = k->batch, .trans_a = k->trans_a, .trans_b = k->trans_b,
                  .a_type = k->a_type, .b_type = k->b_type, .c_type = k->c_type, .beta = k->beta_zero ? 0.0f : 1.0f};
    gpu_gemm_key(&mm, out, cap);
}

/* Plan p runs its shape's preferred algorithm, or the heuristic's first. */
static int plan_preferred(CublasLt *c, LtPlan *p, char *err, size_t cap) {
    char key[64];
    plan_key_text(&p->key, key, sizeof key);
    const GpuGemmAlgo *a = NULL;
    for (int i = 0; i < c->nprefs && !a; i++)
        if (!strcmp(c->prefs[i].key, key)) a = &c->prefs[i].a;
    if (!a) return plan_algorithm(c, p, err, cap);
    /* As the heuristic is asked (plan_algorithm): split-K partial sums in fp32 only. */
    if (a->reduction != CUBLASLT_REDUCTION_SCHEME_NONE && a->reduction != CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE) {
        snprintf(err, cap, "GEMM %s: algorithm %d reduces split-K partial sums in scheme %d, not in fp32", key, a->id,
                 a->reduction);
        return -1;
    }
    cublasLtMatmulAlgo_t algo;
    const PlanKey *k = &p->key;
    /* cuBLASLt's A is our B (see the header). */
    cublasStatus_t s = lt.algo_init(c->handle, CUBLAS_COMPUTE_32F, CUDA_R_32F, dtype(k->b_type), dtype(k->a_type),
                                    dtype(k->c_type), dtype(k->c_type), a->id, &algo);
    const char *call = "cublasLtMatmulAlgoInit";
    if (s == CUBLAS_STATUS_SUCCESS) s = write_algo(&algo, a), call = "cublasLtMatmulAlgoConfigSetAttribute";
    cublasLtMatmulHeuristicResult_t res;
    if (s == CUBLAS_STATUS_SUCCESS)
        s = lt.algo_check(c->handle, p->desc, p->la, p->lb, p->lc, p->lc, &algo, &res), call = "cublasLtMatmulAlgoCheck";
    if (s == CUBLAS_STATUS_SUCCESS && res.workspaceSize > CUBLASLT_WORKSPACE_BYTES) s = CUBLAS_STATUS_NOT_SUPPORTED;
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, cap, "GEMM %s: algorithm %d (tile %d, stages %d, split-K %d) does not run here: %s: %s", key,
                 a->id, a->tile, a->stages, a->splitk, call, status(s));
        return -1;
    }
    p->algo = algo;
    return 0;
}

int cublaslt_use(CublasLt *c, const char *key, const GpuGemmAlgo *a, char *err, size_t cap) {
    int i = 0;
    if (!key) c->nprefs = 0;
    else {
        while (i < c->nprefs && strcmp(c->prefs[i].key, key)) i++;
        if (!a && i < c->nprefs) c->prefs[i] = c->prefs[--c->nprefs];
        else if (a && i == c->nprefs && c->nprefs == MAX_PLANS)
            return snprintf(err, cap, "more than %d GEMM shapes", MAX_PLANS), -1;
        else if (a) {
            if (i == c->nprefs) c->nprefs++;
            snprintf(c->prefs[i].key, sizeof c->prefs[i].key, "%s", key);
            c->prefs[i].a = *a;
        }
    }
    /* The shapes planned already take their new algorithm now. */
    for (int j = 0; j < c->nplans; j++) {
        char k[64];
        plan_key_text(&c->plans[j].key, k, sizeof k);
        if ((!key || !strcmp(k, key)) && plan_preferred(c, &c->plans[j], err, cap)) return -1;
    }
    return 0;
}
