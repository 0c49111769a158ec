/*
 * qkv.cu: what happens to q, k and v between the QKV projection and the
 * attention, per token and head, forward and backward.
 *
 * Computes, for token t and head h, with x the head's hd = HEAD_DIM raw
 * values of q, k or v (from one [T, 3 WIDTH] GEMM output: q in columns
 * 0 .. WIDTH-1, k next, v last), eps = 2^-23 and p = 0 .. hd/2 - 1 the
 * rotary pairs (INTERLEAVED 0: elements (p, p + hd/2); 1: (2p, 2p + 1)):
 *   forward   r = 1 / sqrtf(sum(x^2) / hd + eps), saved in rstd[t, part, h]
 *             q, k: y = x r, then for p < PAIRS (the others stay still)
 *                   out1 = y1 c + y2 s,  out2 = -y1 s + y2 c
 *                   c = cos[t, p], s = sin[t, p]
 *             v:    vn = VNORM ? x r : x;  v = sa0 vn (+ sa1 ve when ve)
 *   backward  q, k: g = the rotation's transpose of dq (s -> -s above),
 *                   m = sum(g y) / hd, dx = r (g - y m)
 *             v:    d sa0 += sum(dv vn), d sa1 += sum(dv ve) (when ve),
 *                   dve += sa1 dv (fp32, when ve), g = sa0 dv,
 *                   dx = VNORM ? r (g - vn m) (as for q) : g
 *   sa0 = scalars[sa_off], sa1 = scalars[sa_off + 1]. This is the ref
 *   executor's attention_block_fwd/bwd (runtime/ref/model.c) in its fp32
 *   order: rmsnorm_fwd/bwd (reduce.h), rotary_apply (rotary.h), scale and
 *   axpy (elementwise.h); the norms' sums are fp32 here (double there), and
 *   nothing is rounded to bf16 before the one rounding of each output.
 * Layouts   qkv, dqkv: [rows, 3 WIDTH]; q, k, v, dq, dk, dv, ve: [rows,
 *           WIDTH] bf16, head h the columns h hd .. h hd + hd - 1; dve:
 *           [rows, WIDTH] fp32; rstd: [rows, 3, WIDTH / hd] fp32 (part 0 q,
 *           1 k, 2 v; the v slots are left alone without VNORM); cos, sin:
 *           [rows, hd / 2] fp32, the ref executor's rotary_tables
 *           (ref_rotary_tables); partial: [PARTS, 2] fp32. ve (and then
 *           dve) may be NULL.
 * The scalars' gradients, second stage: colsum with n = PARTS, cols = 2
 *           (1 without ve: the second column is then 0), scale 1,
 *           accumulate 1, out_off = sa_off.
 * Threads   TPH threads (a power of two, at most a warp) share one head:
 *           thread j holds the head's pair vectors j, j + TPH, ... (VEC
 *           consecutive pairs each, CH vectors at most). HG heads of a
 *           token run side by side and the rest in turn (HLOOP rounds),
 *           RPB = THREADS / (HG TPH) tokens per block and step.
 * Launch    exactly PARTS blocks of THREADS threads (a fixed grid): block b
 *           takes the token groups b, b + PARTS, ... of RPB tokens each. No
 *           dynamic shared memory. Pointers 16-byte aligned; VEC divides
 *           hd / 2. Tokens past `rows` take part in the reductions with
 *           nothing to add and write nothing.
 * Determinism  each thread sums in a fixed order (its elements in index
 *           order, pair member 1 before 2), group_sum<TPH> and block_sum
 *           join threads in a fixed tree, colsum the blocks. No atomics:
 *           bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), WIDTH, HEAD_DIM, PAIRS,
 *           INTERLEAVED, VNORM, PARTS, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

namespace qkv_{{SUFFIX}} {

constexpr int pow2_ceil(int n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

constexpr int W = {{WIDTH}}, HD = {{HEAD_DIM}}, H = W / HD, HALF = HD / 2, V = {{VEC}}, NV = HALF / V;
constexpr int TPH = NV >= 32 ? 32 : pow2_ceil(NV), CH = (NV + TPH - 1) / TPH;

// The most heads side by side: a power of two that divides H, within a block.
constexpr int heads_side_by_side() {
    int g = 1;
    while (H % (2 * g) == 0 && 2 * g * TPH <= {{THREADS}}) g *= 2;
    return g;
}

constexpr int HG = heads_side_by_side(), TPT = HG * TPH, RPB = {{THREADS}} / TPT, HLOOP = H / HG;
constexpr float EPS = 1.1920928955078125e-07f;
static_assert(HALF % V == 0 && W % HD == 0 && {{THREADS}} % TPT == 0, "qkv: bad shape");

// V consecutive elements as floats, from bf16 or fp32 (fp32 in 16-byte pieces).
__device__ __forceinline__ void ld(const __nv_bfloat16 *p, float *out) {
    const Vec<__nv_bfloat16, V> a = vec_load<__nv_bfloat16, V>(p);
    for (int e = 0; e < V; e++) out[e] = __bfloat162float(a.v[e]);
}
__device__ __forceinline__ void ld(const float *p, float *out) {
    constexpr int F = V < 4 ? V : 4;
    for (int i = 0; i < V; i += F) {
        const Vec<float, F> a = vec_load<float, F>(p + i);
        for (int e = 0; e < F; e++) out[i + e] = a.v[e];
    }
}
__device__ __forceinline__ void st(__nv_bfloat16 *p, const float *in) {
    Vec<__nv_bfloat16, V> a;
    for (int e = 0; e < V; e++) a.v[e] = __float2bfloat16(in[e]);
    vec_store<__nv_bfloat16, V>(p, a);
}
__device__ __forceinline__ void st(float *p, const float *in) {
    constexpr int F = V < 4 ? V : 4;
    for (int i = 0; i < V; i += F) {
        Vec<float, F> a;
        for (int e = 0; e < F; e++) a.v[e] = in[i + e];
        vec_store<float, F>(p + i, a);
    }
}

// Pairs p0 .. p0 + V - 1 of a head: a[e], b[e] are pair p0 + e's members.
template <typename T>
__device__ __forceinline__ void load_pairs(const T *head, int p0, float *a, float *b) {
    if ({{INTERLEAVED}}) {
        float all[2 * V];
        ld(head + 2 * p0, all);
        ld(head + 2 * p0 + V, all + V);
        for (int e = 0; e < V; e++) a[e] = all[2 * e], b[e] = all[2 * e + 1];
    } else {
        ld(head + p0, a);
        ld(head + HALF + p0, b);
    }
}
template <typename T>
__device__ __forceinline__ void store_pairs(T *head, int p0, const float *a, const float *b) {
    if ({{INTERLEAVED}}) {
        float all[2 * V];
        for (int e = 0; e < V; e++) all[2 * e] = a[e], all[2 * e + 1] = b[e];
        st(head + 2 * p0, all);
        st(head + 2 * p0 + V, all + V);
    } else {
        st(head + p0, a);
        st(head + HALF + p0, b);
    }
}

// Rotates pairs p0 .. p0 + V - 1 of token t by the tables (sign -1: the
// transpose), as rotary_apply: a' = a c + b s, b' = -a s + b c, s = sign sin.
__device__ __forceinline__ void rotate(float *a, float *b, const float *cosb, const float *sinb, int t, int p0,
                                       float sign) {
    if (p0 >= {{PAIRS}}) return;
    float c[V], s[V];
    ld(cosb + (long long)t * HALF + p0, c);
    ld(sinb + (long long)t * HALF + p0, s);
    for (int e = 0; e < V; e++) {
        if (p0 + e >= {{PAIRS}}) continue;
        const float sn = sign * s[e], x1 = a[e], x2 = b[e];
        a[e] = x1 * c[e] + x2 * sn;
        b[e] = -x1 * sn + x2 * c[e];
    }
}

// Where a thread works: token t (live if t < rows), head h, its pair vectors.
struct Slot {
    int t, h, j;
    bool live;
    long long row(int width) const { return (long long)t * width + h * HD; }
};

// This thread's token, head and place in the head in row group g, head
// loop hl: the same in forward and backward, so both walk the same slots.
__device__ __forceinline__ Slot slot_at(long long g, int hl, int rows) {
    Slot sl;
    sl.t = (int)(g * RPB + threadIdx.x / TPT);
    sl.h = hl * HG + (int)(threadIdx.x % TPT) / TPH;
    sl.j = (int)(threadIdx.x % TPH);
    sl.live = sl.t < rows;
    return sl;
}

__device__ __forceinline__ float rstd_of(float ss) { return 1.0f / sqrtf(ss / (float)HD + EPS); }

}  // namespace qkv_{{SUFFIX}}

extern "C" __global__ void __launch_bounds__({{THREADS}})
qkv_fwd_{{SUFFIX}}(__nv_bfloat16 *q, __nv_bfloat16 *k, __nv_bfloat16 *v, float *rstd, const __nv_bfloat16 *qkv,
                   const __nv_bfloat16 *ve, const float *cos, const float *sin, const float *scalars, int sa_off,
                   int rows) {
    using namespace qkv_{{SUFFIX}};
    const float sa0 = scalars[sa_off], sa1 = scalars[sa_off + 1];
    for (long long g = blockIdx.x; g * RPB < rows; g += {{PARTS}}) {
        for (int hl = 0; hl < HLOOP; hl++) {
            const Slot sl = slot_at(g, hl, rows);
            for (int part = 0; part < 3; part++) {
                const bool norm = part < 2 || {{VNORM}};
                const __nv_bfloat16 *x = qkv + sl.row(3 * W) + part * W;
                float a[CH][V] = {}, b[CH][V] = {};
                float ss = 0.0f;
                for (int c = 0; c < CH; c++) {
                    const int i = c * TPH + sl.j;
                    if (!sl.live || i >= NV) continue;
                    load_pairs(x, i * V, a[c], b[c]);
                    for (int e = 0; e < V; e++) {
                        ss += a[c][e] * a[c][e];
                        ss += b[c][e] * b[c][e];
                    }
                }
                float r = 1.0f;
                if (norm) r = rstd_of(group_sum<TPH>(ss));  // uniform: part and VNORM
                if (norm && sl.live && sl.j == 0) rstd[((long long)sl.t * 3 + part) * H + sl.h] = r;
                for (int c = 0; c < CH; c++) {
                    const int i = c * TPH + sl.j;
                    if (!sl.live || i >= NV) continue;
                    if (norm)
                        for (int e = 0; e < V; e++) a[c][e] = a[c][e] * r, b[c][e] = b[c][e] * r;
                    if (part < 2) {
                        rotate(a[c], b[c], cos, sin, sl.t, i * V, 1.0f);
                        store_pairs(part == 0 ? q + sl.row(W) : k + sl.row(W), i * V, a[c], b[c]);
                        continue;
                    }
                    float ea[V], eb[V];
                    if (ve) load_pairs(ve + sl.row(W), i * V, ea, eb);
                    for (int e = 0; e < V; e++) {
                        a[c][e] = sa0 * a[c][e], b[c][e] = sa0 * b[c][e];
                        if (ve) a[c][e] += sa1 * ea[e], b[c][e] += sa1 * eb[e];
                    }
                    store_pairs(v + sl.row(W), i * V, a[c], b[c]);
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
qkv_bwd_{{SUFFIX}}(__nv_bfloat16 *dqkv, float *partial, float *dve, const __nv_bfloat16 *dq,
                   const __nv_bfloat16 *dk, const __nv_bfloat16 *dv, const __nv_bfloat16 *qkv, const float *rstd,
                   const __nv_bfloat16 *ve, const float *cos, const float *sin, const float *scalars, int sa_off,
                   int rows) {
    using namespace qkv_{{SUFFIX}};
    const float sa0 = scalars[sa_off], sa1 = scalars[sa_off + 1];
    float dsa0 = 0.0f, dsa1 = 0.0f;
    for (long long g = blockIdx.x; g * RPB < rows; g += {{PARTS}}) {
        for (int hl = 0; hl < HLOOP; hl++) {
            const Slot sl = slot_at(g, hl, rows);
            for (int part = 0; part < 3; part++) {
                const bool norm = part < 2 || {{VNORM}};
                const __nv_bfloat16 *x = qkv + sl.row(3 * W) + part * W;
                const __nv_bfloat16 *dy = (part == 0 ? dq : part == 1 ? dk : dv) + sl.row(W);
                const float r = norm && sl.live ? rstd[((long long)sl.t * 3 + part) * H + sl.h] : 1.0f;
                // y (the normed input, as forward computed it) and g (the
                // gradient reaching the norm), per pair member.
                float ya[CH][V] = {}, yb[CH][V] = {}, ga[CH][V] = {}, gb[CH][V] = {};
                float dot = 0.0f;
                for (int c = 0; c < CH; c++) {
                    const int i = c * TPH + sl.j;
                    if (!sl.live || i >= NV) continue;
                    load_pairs(x, i * V, ya[c], yb[c]);
                    load_pairs(dy, i * V, ga[c], gb[c]);
                    if (norm)
                        for (int e = 0; e < V; e++) ya[c][e] = ya[c][e] * r, yb[c][e] = yb[c][e] * r;
                    if (part < 2) {
                        rotate(ga[c], gb[c], cos, sin, sl.t, i * V, -1.0f);
                    } else {
                        float ea[V], eb[V], da[V], db[V];
                        for (int e = 0; e < V; e++) {
                            dsa0 += ga[c][e] * ya[c][e];
                            dsa0 += gb[c][e] * yb[c][e];
                        }
                        if (ve) {
                            load_pairs(ve + sl.row(W), i * V, ea, eb);
                            load_pairs(dve + sl.row(W), i * V, da, db);
                            for (int e = 0; e < V; e++) {
                                dsa1 += ga[c][e] * ea[e];
                                dsa1 += gb[c][e] * eb[e];
                                da[e] += sa1 * ga[c][e], db[e] += sa1 * gb[c][e];
                            }
                            store_pairs(dve + sl.row(W), i * V, da, db);
                        }
                        for (int e = 0; e < V; e++) ga[c][e] = sa0 * ga[c][e], gb[c][e] = sa0 * gb[c][e];
                    }
                    for (int e = 0; e < V; e++) {
                        dot += ga[c][e] * ya[c][e];
                        dot += gb[c][e] * yb[c][e];
                    }
                }
                float m = 0.0f;
                if (norm) m = group_sum<TPH>(dot) / (float)HD;  // uniform: part and VNORM
                for (int c = 0; c < CH; c++) {
                    const int i = c * TPH + sl.j;
                    if (!sl.live || i >= NV) continue;
                    if (norm)
                        for (int e = 0; e < V; e++) {
                            ga[c][e] = r * (ga[c][e] - ya[c][e] * m);
                            gb[c][e] = r * (gb[c][e] - yb[c][e] * m);
                        }
                    store_pairs(dqkv + sl.row(3 * W) + part * W, i * V, ga[c], gb[c]);
                }
            }
        }
    }
    dsa0 = block_sum(dsa0);
    dsa1 = block_sum(dsa1);
    if (threadIdx.x == 0) partial[blockIdx.x * 2] = dsa0, partial[blockIdx.x * 2 + 1] = dsa1;
}
