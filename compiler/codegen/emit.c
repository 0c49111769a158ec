/*
 * emit.c: kernel instances for a model, and kernels.cu, kernels.h and
 * kernels_sim.cc from them (see emit.h).
 *
 * Each family is a function that reads the numbers it needs from the
 * ModelSpec and fills an instance: constants (exactly the template's
 * placeholders besides SUFFIX: the engine refuses extra or missing ones),
 * the kernel names and their parameter lists. Rendering checks that each
 * kernel's declared parameters appear verbatim in the rendered source, so
 * kernels.h cannot drift from the templates.
 */
#include "compiler/codegen/emit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/template.h"

/* The widest vector of bf16 (16 bytes at most) that divides a row: every
 * row and table offset is then a multiple of it, so aligned. */
static int bf16_vec(int width) {
    int v = 8;
    while (width % v) v /= 2;
    return v;
}

/* The instance's next constant; running out is a bug in this file (a
 * family with more constants than EMIT_MAX_CONSTS), stopped at once. */
static EmitConst *new_const(EmitInstance *in, const char *name) {
    if (in->nconsts == EMIT_MAX_CONSTS) {
        fprintf(stderr, "gptc: internal error: %s has more than %d template constants (at %s)\n", in->family,
                EMIT_MAX_CONSTS, name);
        abort();
    }
    return &in->consts[in->nconsts++];
}

static void add_const(EmitInstance *in, const char *name, long long value) {
    *new_const(in, name) = (EmitConst){name, value, false, 0};
}

static void add_float_const(EmitInstance *in, const char *name, double value) {
    *new_const(in, name) = (EmitConst){name, 0, true, value};
}

/* The smallest power of two >= n (1 for n < 1). */
static int pow2_ceil(int n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

static void add_kernel(EmitInstance *in, const char *stem, const char *args) {
    EmitKernel *k = &in->kernels[in->nkernels++];
    char suffix[sizeof in->suffix]; /* a copy: gcc's -Wrestrict cannot tell the two fields apart */
    memcpy(suffix, in->suffix, sizeof suffix);
    snprintf(k->name, sizeof k->name, "%s_%s", stem, suffix);
    k->stem = stem;
    k->args = args;
}

static EmitInstance *new_instance(KernelSet *p, const char *family, const char *tpl, int vec, int width) {
    EmitInstance *in = &p->inst[p->n++];
    memset(in, 0, sizeof *in);
    in->family = family;
    in->tpl = tpl;
    in->threads = EMIT_THREADS;
    in->vec = vec;
    in->width = width;
    in->grid_y = 1;
    return in;
}

static void x0_mix(const ModelSpec *s, KernelSet *p) {
    int d = s->model.dim, k = s->x0.tables;
    EmitInstance *in = new_instance(p, "x0_mix", "x0_mix.cu", bf16_vec(d), d);
    snprintf(in->suffix, sizeof in->suffix, "t%d_d%d", k, d);
    add_const(in, "TABLES", k);
    add_const(in, "WIDTH", d);
    add_kernel(
        in, "x0_mix_fwd",
        "__nv_bfloat16 *xm, const __nv_bfloat16 *xs, const __nv_bfloat16 *x0, long long table_stride, "
        "const float *scalars, int lambda_off, int rows");
}

static void relu2(const ModelSpec *s, KernelSet *p) {
    int m = s->model.mlp_hidden;
    EmitInstance *in = new_instance(p, "relu2", "relu2.cu", bf16_vec(m), m);
    snprintf(in->suffix, sizeof in->suffix, "m%d", m);
    add_const(in, "WIDTH", m);
    add_kernel(in, "relu2_fwd", "__nv_bfloat16 *act, const __nv_bfloat16 *pre, int rows");
    add_kernel(in, "relu2_bwd",
               "__nv_bfloat16 *dpre, const __nv_bfloat16 *dact, const __nv_bfloat16 *pre, int rows");
}

/* One instance serves every Adam tensor: sizes and hyperparameters are
 * arguments. 4 fp32 = 16 bytes per vector. */
static void adam(const ModelSpec *s, KernelSet *p) {
    (void)s;
    EmitInstance *in = new_instance(p, "adam", "adam.cu", 4, 0);
    snprintf(in->suffix, sizeof in->suffix, "fp32_v%d", in->vec);
    add_kernel(in, "adam",
               "float *p, float *m, float *v, const float *g, long long n, float beta1, float beta2, "
               "float eps, float decay, float step_size, float rbc2");
}

/* RMS norm over rows of `width`: TPR threads per row, a power of two. One
 * vector per thread while a row fits in a warp (several rows per warp);
 * then one warp per row with up to 4 vectors per lane (dim 1024 at VEC 8);
 * then a block of up to 512 threads per row, up to 4 vectors each (dim
 * 16384), all kept in registers. Wider rows take 1024 threads and read
 * their vectors twice rather than keep them: at 1024 threads a thread has
 * 64 registers, and the backward pass's two kept rows would spill. Up to
 * a warp per row, 256 threads per block; beyond, the block is the row. */
static void rmsnorm(KernelSet *p, int width) {
    int vec = bf16_vec(width), nvec = width / vec;
    int tpr = nvec <= 32 ? pow2_ceil(nvec) : nvec <= 4 * 32 ? 32 : pow2_ceil((nvec + 3) / 4);
    bool stash = tpr <= 512;
    if (!stash) tpr = 1024;
    EmitInstance *in = new_instance(p, "rmsnorm", "rmsnorm.cu", vec, width);
    in->threads = tpr > 32 ? tpr : EMIT_THREADS;
    in->rows_per_block = in->threads / tpr;
    snprintf(in->suffix, sizeof in->suffix, "d%d", width);
    add_const(in, "WIDTH", width);
    add_const(in, "TPR", tpr);
    add_const(in, "STASH", stash);
    add_kernel(in, "rmsnorm_fwd", "__nv_bfloat16 *y, float *rstd, const __nv_bfloat16 *x, int rows");
    add_kernel(in, "rmsnorm_bwd",
               "__nv_bfloat16 *dx, const __nv_bfloat16 *dy, const __nv_bfloat16 *y, const float *rstd, "
               "int accumulate, int rows");
}

/* The x0-mix lambdas' gradients, first stage. PARTS blocks, so that a
 * training step's T x dim elements give each thread about 8 vectors, but
 * at most 256 partials (a few per SM on any GPU, and one pass of the
 * second stage's 256 x 4). Fixed per model: the order of the sums cannot
 * depend on the GPU. */
static void x0_lambda_grad(const ModelSpec *s, KernelSet *p) {
    int d = s->model.dim, k = s->x0.tables, vec = bf16_vec(d);
    long long per_block = (long long)EMIT_THREADS * 8;
    long long parts = (s->train.tokens_per_rank * d / vec + per_block - 1) / per_block;
    parts = parts < 1 ? 1 : parts > 256 ? 256 : parts;
    EmitInstance *in = new_instance(p, "x0_lambda_grad", "x0_lambda_grad.cu", vec, d);
    in->grid_blocks = (int)parts;
    snprintf(in->suffix, sizeof in->suffix, "t%d_d%d_p%lld", k, d, parts);
    add_const(in, "TABLES", k);
    add_const(in, "WIDTH", d);
    add_const(in, "PARTS", parts);
    add_kernel(in, "x0_lambda_grad",
               "float *partial, __nv_bfloat16 *dxs, __nv_bfloat16 *dx0, const __nv_bfloat16 *dxm, "
               "const __nv_bfloat16 *xs, const __nv_bfloat16 *x0, const float *scalars, long long table_stride, "
               "int lambda_off, int rows");
}

/* The second stage of the two-stage reductions: one block, 4 rows per
 * thread and step. */
static void colsum(KernelSet *p) {
    EmitInstance *in = new_instance(p, "colsum", "colsum.cu", 4, 0);
    in->grid_blocks = 1;
    snprintf(in->suffix, sizeof in->suffix, "fp32_v%d", in->vec);
    add_kernel(in, "colsum",
               "float *out, int out_off, const float *in, int n, int cols, float scale, int accumulate");
}

/* The softcap and cross-entropy over the padded vocabulary: a block per
 * row, bf16 vectors of up to 8 (16 bytes) that divide the row, and a
 * warp-multiple of threads up to 512 (about 12 vectors each at 50304). */
static void softcap_ce(const ModelSpec *s, KernelSet *p) {
    static const char *const kinds[] = {[SOFTCAP_ISRU] = "isru", [SOFTCAP_SIGMOID] = "sigmoid",
                                        [SOFTCAP_NONE] = "none"};
    int v = s->vocab.padded, vec = v % 8 == 0 ? 8 : v % 4 == 0 ? 4 : v % 2 == 0 ? 2 : 1;
    int threads = (v / vec + 31) / 32 * 32;
    EmitInstance *in = new_instance(p, "softcap_ce", "softcap_ce.cu", vec, v);
    in->threads = threads < 32 ? 32 : threads > 512 ? 512 : threads;
    in->rows_per_block = 1;
    snprintf(in->suffix, sizeof in->suffix, "v%d_%s", v, kinds[s->head.softcap]);
    add_const(in, "VPAD", v);
    add_const(in, "SOFTCAP", s->head.softcap);
    add_float_const(in, "CAP", s->head.cap);
    add_float_const(in, "DIV", s->head.divisor);
    add_float_const(in, "OFFSET", s->head.offset);
    add_kernel(in, "softcap_ce",
               "float *row_loss, __nv_bfloat16 *dlogits, const __nv_bfloat16 *logits, const int *targets, int count, "
               "int rows");
}

/* The widest vector of fp32 (16 bytes at most) that divides the model
 * width: every Muon matrix holds a multiple of dim elements, so a tensor,
 * a matrix of it and every plane stay aligned to it. */
static int muon_vec(const ModelSpec *s) {
    int v = 4;
    while (s->model.dim % v) v /= 2;
    return v;
}

/* Muon's momentum and the first stage of its norms (muon_momentum.cu):
 * PARTS blocks per launch, so that the largest Muon matrix (the MLP's, or
 * an attention matrix if larger) gives each thread about 8 vectors, at most
 * 256 partials. Fixed per model: the order of the sums cannot depend on
 * the GPU. */
static void muon_momentum(const ModelSpec *s, KernelSet *p) {
    long long d = s->model.dim, m = s->model.mlp_hidden, vec = muon_vec(s);
    long long biggest = d * (m > d ? m : d), per_block = (long long)EMIT_THREADS * 8;
    long long parts = (biggest / vec + per_block - 1) / per_block;
    parts = parts < 1 ? 1 : parts > 256 ? 256 : parts;
    EmitInstance *in = new_instance(p, "muon_momentum", "muon_momentum.cu", (int)vec, 0);
    in->grid_blocks = (int)parts;
    snprintf(in->suffix, sizeof in->suffix, "n%d_p%lld_v%lld", s->train.muon.nesterov ? 1 : 0, parts, vec);
    add_const(in, "NESTEROV", s->train.muon.nesterov ? 1 : 0);
    add_const(in, "PARTS", parts);
    add_kernel(in, "muon_momentum",
               "float *buf, __nv_bfloat16 *x, float *partial, const float *g, float momentum, "
               "long long per_matrix, int count");
}

/* Muon's elementwise steps and the head's bf16 copy (muon.cu): flat
 * kernels, sizes and coefficients as arguments. */
static void muon(const ModelSpec *s, KernelSet *p) {
    EmitInstance *in = new_instance(p, "muon", "muon.cu", muon_vec(s), 0);
    snprintf(in->suffix, sizeof in->suffix, "v%d", in->vec);
    add_kernel(in, "muon_normalize",
               "__nv_bfloat16 *x, const float *sumsq, float eps, long long per_matrix, long long n");
    add_kernel(in, "muon_combine",
               "__nv_bfloat16 *out, const __nv_bfloat16 *x, const float *t, float a, float b, long long n");
    add_kernel(in, "muon_update",
               "__nv_bfloat16 *hi, unsigned short *lo, const __nv_bfloat16 *o, float decay, float lr_eff, "
               "long long n");
    add_kernel(in, "cast_bf16", "__nv_bfloat16 *out, const float *in, long long n");
}

/* The widest vector of fp32 (16 bytes at most) that divides a row. */
static int f32_vec(int width) {
    return width % 4 == 0 ? 4 : width % 2 == 0 ? 2 : 1;
}

/* The embedding tables' gather (+ RMS norm) and their gradients' segment
 * sums, at width dim over fp32 rows: TPR threads per row, a power of two,
 * one vector each while a row fits in a warp; then a warp per row with up
 * to 8 vectors per lane (32 floats: dim 1024); then a block of up to 1024
 * threads per row. Up to a warp per row, 256 threads per block. */
static void embed(const ModelSpec *s, KernelSet *p) {
    int d = s->model.dim, vec = f32_vec(d), nvec = d / vec;
    int tpr = nvec <= 32 ? pow2_ceil(nvec) : nvec <= 8 * 32 ? 32 : pow2_ceil((nvec + 7) / 8);
    if (tpr > 1024) tpr = 1024;
    EmitInstance *in = new_instance(p, "embed", "embed.cu", vec, d);
    in->threads = tpr > 32 ? tpr : EMIT_THREADS;
    in->rows_per_block = in->threads / tpr;
    snprintf(in->suffix, sizeof in->suffix, "d%d", d);
    add_const(in, "WIDTH", d);
    add_const(in, "TPR", tpr);
    add_kernel(in, "embed_fwd",
               "__nv_bfloat16 *y, float *rstd, const float *table, const int *ids, int norm, int rows");
    add_kernel(in, "embed_bwd",
               "float *dtable, const __nv_bfloat16 *drows, const int *order, const int *seg_start, "
               "const int *seg_token, int rows");
}

/* Does any layer have attention? */
static bool has_attention(const ModelSpec *s) {
    for (int i = 0; i < s->model.layers; i++)
        if (s->model.attention[i]) return true;
    return false;
}

/* The per-head norms, rotary and value mix around the attention. VEC
 * consecutive rotary pairs per vector (bf16, 16 bytes at most, dividing
 * head_dim / 2). A fixed grid, since backward reduces the attention lambdas'
 * gradients: the template places the threads (TPH per head, HG heads side
 * by side, RPB tokens per block and step); PARTS blocks so that a step's
 * tokens give each block about 4 groups of RPB tokens, at most 512 (several
 * blocks per SM; colsum adds 512 x 2 partials in one pass). The same
 * placement here, only to size the grid. */
static void qkv(const ModelSpec *s, KernelSet *p) {
    int d = s->model.dim, hd = s->model.head_dim, heads = d / hd, vec = bf16_vec(hd / 2);
    int nv = hd / 2 / vec, tph = nv >= 32 ? 32 : pow2_ceil(nv), hg = 1;
    while (heads % (2 * hg) == 0 && 2 * hg * tph <= EMIT_THREADS) hg *= 2;
    long long rpb = EMIT_THREADS / (hg * tph), groups = (s->train.tokens_per_rank + rpb - 1) / rpb;
    long long parts = (groups + 3) / 4;
    parts = parts < 1 ? 1 : parts > 512 ? 512 : parts;
    bool inter = s->attn.rotary_convention == ROTARY_INTERLEAVED, vnorm = s->attn.norm == ATTN_NORM_QKV;
    EmitInstance *in = new_instance(p, "qkv", "qkv.cu", vec, d);
    in->grid_blocks = (int)parts;
    snprintf(in->suffix, sizeof in->suffix, "h%d_d%d_r%d%s%s_p%lld", heads, hd, s->attn.rotary_pairs,
             inter ? "i" : "h", vnorm ? "_vn" : "", parts);
    add_const(in, "WIDTH", d);
    add_const(in, "HEAD_DIM", hd);
    add_const(in, "PAIRS", s->attn.rotary_pairs);
    add_const(in, "INTERLEAVED", inter);
    add_const(in, "VNORM", vnorm);
    add_const(in, "PARTS", parts);
    add_kernel(in, "qkv_fwd",
               "__nv_bfloat16 *q, __nv_bfloat16 *k, __nv_bfloat16 *v, float *rstd, const __nv_bfloat16 *qkv, "
               "const __nv_bfloat16 *ve, const float *cos, const float *sin, const float *scalars, int sa_off, "
               "int rows");
    add_kernel(in, "qkv_bwd",
               "__nv_bfloat16 *dqkv, float *partial, float *dve, const __nv_bfloat16 *dq, const __nv_bfloat16 *dk, "
               "const __nv_bfloat16 *dv, const __nv_bfloat16 *qkv, const float *rstd, const __nv_bfloat16 *ve, "
               "const float *cos, const float *sin, const float *scalars, int sa_off, int rows");
}

/* The skip add fused into the x0 mix (elementwise, as x0_mix). */
static void x0_skip(const ModelSpec *s, KernelSet *p) {
    int d = s->model.dim, k = s->x0.tables;
    EmitInstance *in = new_instance(p, "x0_skip", "x0_skip.cu", bf16_vec(d), d);
    snprintf(in->suffix, sizeof in->suffix, "t%d_d%d", k, d);
    add_const(in, "TABLES", k);
    add_const(in, "WIDTH", d);
    add_kernel(in, "x0_skip_fwd",
               "__nv_bfloat16 *xs, __nv_bfloat16 *xm, const __nv_bfloat16 *x, const __nv_bfloat16 *src, "
               "const __nv_bfloat16 *x0, long long table_stride, const float *scalars, int skip_off, "
               "int lambda_off, int rows");
}

/* The skip's backward: a fixed grid of PARTS blocks, sized as
 * x0_lambda_grad's (about 8 vectors per thread, at most 256 partials). */
static void skip_bwd(const ModelSpec *s, KernelSet *p) {
    int d = s->model.dim, vec = bf16_vec(d);
    long long per_block = (long long)EMIT_THREADS * 8;
    long long parts = (s->train.tokens_per_rank * d / vec + per_block - 1) / per_block;
    parts = parts < 1 ? 1 : parts > 256 ? 256 : parts;
    EmitInstance *in = new_instance(p, "skip", "skip.cu", vec, d);
    in->grid_blocks = (int)parts;
    snprintf(in->suffix, sizeof in->suffix, "d%d_p%lld", d, parts);
    add_const(in, "WIDTH", d);
    add_const(in, "PARTS", parts);
    add_kernel(in, "skip_bwd",
               "__nv_bfloat16 *dsrc, float *partial, const __nv_bfloat16 *dxs, const __nv_bfloat16 *src, "
               "const float *scalars, int skip_off, int rows");
}

/* Attention, forward and backward (templates/attention.cu): blocks of TILE
 * = 64 rows (4 warps of 16 query or key rows) per head. The key and query
 * tiles streamed through shared memory are as large as registers allow:
 * at head_dim 128 (the records) attn_fwd holds Q (32 registers) and the
 * output (64) and takes 64 keys at a time, attn_bwd_dq holds Q and dY (64)
 * and dQ (64) and takes 32, attn_bwd_dkdv holds dK and dV (128) and takes
 * 32 queries (237 registers on sm_90a, no spill; 16 above head_dim 128,
 * where dK and dV alone take 256); small heads take 64 throughout.
 * Every streamed tile is double-buffered (copied with cp.async while the
 * previous one is computed): attn_fwd's and attn_bwd_dq's key tiles (K, V),
 * attn_bwd_dkdv's query tiles (q, dY and their lse, delta, doc_start). At
 * head_dim 128 that takes 64 KiB (attn_fwd), 48 KiB (attn_bwd_dq) and
 * 66 KiB (attn_bwd_dkdv), so launches opt in above 48 KiB (2 blocks, the
 * register limit, still fit an SM's 228 KiB: under 97 KiB each up to
 * head_dim 256). A head_dim that is not a multiple of 16 (the mma k-step)
 * or above 256 gets no kernels: the GPU executors must refuse such a
 * model. dQ comes from the dS attn_bwd_dkdv stores (DQ_SRC 2: one product
 * instead of three) wherever the window block is whole 16-key granules,
 * else attn_bwd_dq recomputes it (1); the tuner may choose either. */
static void attention(const ModelSpec *s, KernelSet *p) {
    int heads = s->model.heads, hd = s->model.head_dim, tile = 64;
    bool any = false;
    for (int i = 0; i < s->model.layers; i++) any = any || s->model.attention[i];
    if (!any || hd % 16 || hd > 256) return;
    int fwd_kn = hd <= 128 ? 64 : 32, kn = hd <= 64 ? 64 : 32, kn_dkdv = hd <= 64 ? 64 : hd <= 128 ? 32 : 16;
    int tpr = pow2_ceil(hd / 8) > 32 ? 32 : pow2_ceil(hd / 8);
    EmitInstance *in = new_instance(p, "attention", "attention.cu", 8, heads * hd);
    in->threads = 2 * tile;
    in->rows_per_block = tile;
    in->grid_y = heads;
    snprintf(in->suffix, sizeof in->suffix, "h%d_d%d", heads, hd);
    add_const(in, "HEADS", heads);
    add_const(in, "HEAD_DIM", hd);
    add_const(in, "WIDTH", heads * hd);
    add_const(in, "BLOCK_SIZE", s->attn.window.block_size);
    add_float_const(in, "SCALE", s->attn.scale);
    add_const(in, "TILE", tile);
    add_const(in, "FWD_KN", fwd_kn);
    add_const(in, "DQ_KN", kn);
    add_const(in, "DKDV_QN", kn_dkdv);
    add_const(in, "PRE_TPR", tpr);
    add_const(in, "MIN_BLOCKS", 1);
    add_const(in, "DQ_SRC", s->attn.window.block_size % 16 ? 1 : 2);
    add_const(in, "STAGES", 2);
    add_const(in, "FWD_MMA", 1);
    add_const(in, "DKDV_MMA", 1);
    add_const(in, "DQ_MMA", 1);
    add_kernel(in, "attn_fwd",
               "__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q, const __nv_bfloat16 *k, "
               "const __nv_bfloat16 *v, const int *doc_start, int window_blocks, int rows");
    add_kernel(in, "attn_bwd_pre", "float *delta, const __nv_bfloat16 *dy, const __nv_bfloat16 *y, int rows");
    add_kernel(in, "attn_bwd_dkdv",
               "__nv_bfloat16 *dk, __nv_bfloat16 *dv, __nv_bfloat16 *ds, const __nv_bfloat16 *dy, "
               "const float *lse, const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k, "
               "const __nv_bfloat16 *v, const int *doc_start, int window_blocks, int ds_slots, int rows");
    add_kernel(in, "attn_bwd_dq",
               "__nv_bfloat16 *dq, const __nv_bfloat16 *ds, const __nv_bfloat16 *dy, const float *lse, "
               "const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, "
               "const int *doc_start, int window_blocks, int ds_slots, int rows");
    static const char *const keys[] = {"FWD", "PRE", "DKDV", "DQ"};
    for (int k = 0; k < in->nkernels; k++) in->kernels[k].key = keys[k];
    emit_attention_smem(in);
}

long long emit_const(const EmitInstance *in, const char *name) {
    for (int i = 0; i < in->nconsts; i++)
        if (!strcmp(in->consts[i].name, name)) return in->consts[i].value;
    return 0;
}

void emit_attention_smem(EmitInstance *in) {
    int hd = (int)emit_const(in, "HEAD_DIM"), tile = (int)emit_const(in, "TILE"), row_bytes = hd * 2;
    int fwd_kn = (int)emit_const(in, "FWD_KN"), kn = (int)emit_const(in, "DQ_KN"),
        kn_dkdv = (int)emit_const(in, "DKDV_QN"), st = (int)emit_const(in, "STAGES");
    /* st stages of K and V rows; Q is staged once in the last. On
     * warpgroups, Q apart and the rest from a 1024-byte boundary. */
    in->kernels[0].smem_bytes = emit_const(in, "FWD_MMA") >= 2
                                    ? (tile + 2 * st * fwd_kn) * row_bytes + 1024
                                    : (2 * fwd_kn * (st - 1) + (tile > 2 * fwd_kn ? tile : 2 * fwd_kn)) * row_bytes;
    /* K and V, then st stages of q and dY rows and 3 words per query (on
     * warpgroups, from a 1024-byte boundary) */
    in->kernels[2].smem_bytes = (2 * tile + 2 * st * kn_dkdv) * row_bytes + st * 3 * kn_dkdv * 4 +
                                (emit_const(in, "DKDV_MMA") == 2 ? 1024 : 0);
    /* as attn_fwd's, with Q and dY staged once in the last stage; from the
     * stored dS, st stages of K rows only */
    in->kernels[3].smem_bytes = emit_const(in, "DQ_SRC") == 2
                                    ? st * kn * row_bytes + (emit_const(in, "DQ_MMA") == 2 ? 1024 : 0)
                                    : (2 * kn * (st - 1) + (tile > kn ? 2 * tile : 2 * kn)) * row_bytes;
}

void emit_kernel_set(const ModelSpec *s, KernelSet *p) {
    p->n = 0;
    x0_mix(s, p);
    if (s->model.activation == ACT_RELU2) relu2(s, p);
    adam(s, p);
    rmsnorm(p, s->model.dim);
    if (s->model.head_dim != s->model.dim) rmsnorm(p, s->model.head_dim);
    x0_lambda_grad(s, p);
    colsum(p);
    softcap_ce(s, p);
    muon_momentum(s, p);
    muon(s, p);
    embed(s, p);
    if (has_attention(s)) qkv(s, p);
    if (s->skips.count > 0) x0_skip(s, p), skip_bwd(s, p);
    attention(s, p);
    /* VEC and THREADS are placeholders of every template. */
    for (int i = 0; i < p->n; i++) {
        add_const(&p->inst[i], "VEC", p->inst[i].vec);
        add_const(&p->inst[i], "THREADS", p->inst[i].threads);
    }
}

void emit_header(const char *version, const char *model_path, const char *what, StrBuf *out) {
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    char name[128];
    size_t n = 0;
    for (; base[n] && n < sizeof name - 1; n++) {
        char c = base[n];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
        name[n] = plain ? c : '_';
    }
    name[n] = '\0';
    sb_printf(out, "/* Generated by gptc %s from %s: do not edit.\n * %s */\n", version, name, what);
}

/* `text` with every run of whitespace turned into one space. */
static void squeeze(const char *text, StrBuf *out) {
    bool space = false;
    for (const char *c = text; *c; c++) {
        bool ws = *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r';
        if (ws && !space) sb_append(out, " ", 1);
        if (!ws) sb_append(out, c, 1);
        space = ws;
    }
}

static bool check_signatures(const EmitInstance *in, const char *rendered, char *err, size_t errlen) {
    StrBuf flat = {0}, want = {0};
    squeeze(rendered, &flat);
    bool ok = true;
    for (int k = 0; k < in->nkernels && ok; k++) {
        want.len = 0;
        sb_printf(&want, " %s(%s)", in->kernels[k].name, in->kernels[k].args);
        ok = strstr(sb_str(&flat), sb_str(&want)) != NULL;
        if (!ok)
            snprintf(err, errlen, "templates/%s: error: no kernel '%s(%s)' in the rendered template",
                     in->tpl, in->kernels[k].name, in->kernels[k].args);
    }
    sb_free(&flat);
    sb_free(&want);
    return ok;
}

static bool render(const EmitInstance *in, StrBuf *out, char *err, size_t errlen) {
    const TplFile *f = tpl_find(in->tpl);
    if (!f) {
        snprintf(err, errlen, "templates/%s: error: not built into this gptc", in->tpl);
        return false;
    }
    TplArgs a;
    tpl_args_init(&a);
    tpl_set_ident(&a, "SUFFIX", in->suffix);
    for (int k = 0; k < in->nkernels; k++) {
        const EmitKernel *kn = &in->kernels[k];
        if (!kn->key) continue;
        char tag[TPL_NAME_MAX], on[TPL_NAME_MAX];
        snprintf(tag, sizeof tag, "%s_TAG", kn->key);
        snprintf(on, sizeof on, "%s_ON", kn->key);
        tpl_set_ident(&a, tag, kn->name + strlen(kn->stem) + 1);
        tpl_set_int(&a, on, !kn->off);
    }
    for (int i = 0; i < in->nconsts; i++) {
        const EmitConst *c = &in->consts[i];
        if (c->is_float) tpl_set_float(&a, c->name, c->fvalue);
        else tpl_set_int(&a, c->name, c->value);
    }
    StrBuf text = {0};
    bool ok = tpl_render(in->tpl, f->text, &a, &text, err, errlen) &&
              check_signatures(in, sb_str(&text), err, errlen);
    if (ok) {
        sb_printf(out, "\n/* ---- %s:", in->tpl);
        for (int i = 0; i < in->nconsts; i++) {
            const EmitConst *c = &in->consts[i];
            if (c->is_float) sb_printf(out, " %s=%.9g", c->name, (double)(float)c->fvalue);
            else sb_printf(out, " %s=%lld", c->name, c->value);
        }
        sb_printf(out, " ---- */\n%s", sb_str(&text));
    }
    sb_free(&text);
    return ok;
}

bool emit_kernels(const KernelSet *p, StrBuf *out, char *err, size_t errlen) {
    for (int i = 0; i < p->n; i++)
        if (!render(&p->inst[i], out, err, errlen)) return false;
    return true;
}

/* The IEEE-754 bits of v rounded to float. */
static uint32_t float_bits(double v) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void plan_kernel(const EmitInstance *in, const EmitKernel *k, StrBuf *out) {
    sb_printf(out, "    {\"%s\", \"%s\",\n     \"%s\",\n     %d, %d, %d, %d, %d, %d, %d, %d, {", k->name,
              in->family, k->args, in->grid_blocks, in->rows_per_block, in->grid_y, in->threads, in->vec,
              in->width, k->smem_bytes, in->nconsts);
    for (int i = 0; i < in->nconsts; i++) {
        const EmitConst *c = &in->consts[i];
        if (c->is_float)
            sb_printf(out, "%s{\"%s\", %lu /* %.9g */}", i ? ", " : "", c->name,
                      (unsigned long)float_bits(c->fvalue), (double)(float)c->fvalue);
        else sb_printf(out, "%s{\"%s\", %lld}", i ? ", " : "", c->name, c->value);
    }
    sb_puts(out, "}},\n");
}

void emit_kernels_h(const KernelSet *p, const char *header, const char *source_sha256, StrBuf *out) {
    int count = 0;
    for (int i = 0; i < p->n; i++) count += p->inst[i].nkernels;
    sb_puts(out, header);
    sb_printf(out,
              "#ifndef GPTC_KERNELS_H\n#define GPTC_KERNELS_H\n\n"
              "/* SHA-256 of the kernels.cu beside this file. */\n"
              "#define GPTC_KERNELS_SOURCE_SHA256 \"%s\"\n"
              "/* Every pointer argument of every kernel is aligned to this. */\n"
              "#define GPTC_KERNELS_ALIGN_BYTES %d\n"
              "#define GPTC_KERNELS_KERNEL_COUNT %d\n\n",
              source_sha256, EMIT_ALIGN_BYTES, count);
    sb_printf(out,
              "/* Launch: `threads` threads per block, and\n"
              " *   grid_blocks > 0: exactly grid_blocks blocks (a fixed grid);\n"
              " *   else rows_per_block > 0: blocks = ceil(rows / rows_per_block);\n"
              " *   else blocks = ceil(N / (threads * elems_per_thread)), N = rows *\n"
              " *   row_elems when row_elems > 0, else N = the argument n.\n"
              " * grid_y blocks along y (1 but for attention: its heads). A\n"
              " * dyn_smem_bytes above 48 KiB needs the driver's opt-in first.\n"
              " * rows is the kernel's last argument. `consts` are the values the kernel\n"
              " * was generated with; a float constant's value is the bits of the\n"
              " * IEEE-754 float, its decimal value in a comment beside it. */\n"
              "typedef struct {\n"
              "    const char *name;   /* the extern \"C\" symbol in kernels.cu */\n"
              "    const char *family; /* the template, templates/<family>.cu */\n"
              "    const char *args;   /* the parameters, in order */\n"
              "    int grid_blocks, rows_per_block, grid_y;\n"
              "    int threads, elems_per_thread, row_elems, dyn_smem_bytes;\n"
              "    int nconsts;\n"
              "    struct {\n        const char *name;\n        long long value;\n    } consts[%d];\n"
              "} GptcKernel;\n\n"
              "static const GptcKernel gptc_kernels[GPTC_KERNELS_KERNEL_COUNT] = {\n",
              EMIT_MAX_CONSTS);
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->inst[i].nkernels; k++) plan_kernel(&p->inst[i], &p->inst[i].kernels[k], out);
    sb_puts(out, "};\n\n#endif\n");
}

void emit_sim_exports(const KernelSet *p, StrBuf *out) {
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->inst[i].nkernels; k++)
            if (!p->inst[i].kernels[k].off) sb_printf(out, "GPTC_SIM_KERNEL(%s)\n", p->inst[i].kernels[k].name);
}

void emit_sim_cc(const KernelSet *p, const char *header, StrBuf *out) {
    sb_puts(out, header);
    /* The kernels' own source, not a copy: sim runs exactly what NVRTC
     * compiles. The include is resolved beside this file. */
    sb_puts(out, "#include \"kernels.cu\"\n\n");
    emit_sim_exports(p, out);
}
