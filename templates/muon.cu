/*
 * muon.cu: the elementwise steps of Muon's update that the GEMMs do not
 * do, and the head's bf16 copy after Adam. runtime/device/optim_gpu.c drives them;
 * templates/muon_momentum.cu is the step before.
 *
 * Computes (fp32 math, --fmad=false, the operations in the order written):
 *   muon_normalize  x[i] = bf16(x[i] / (sqrtf(sumsq[i / per_matrix]) + eps))
 *                   sumsq: one sum of squares per matrix (muon_momentum's
 *                   partials after colsum); eps: the recipe's 1e-7.
 *   muon_combine    out[i] = bf16(a * x[i] + b * t[i])
 *                   Newton-Schulz's two combinations, with t the fp32 GEMM
 *                   result: B = b A + c (A A) as (x = A, t = A A), and
 *                   X = a X + B X as (x = X, t = B X, b = 1).
 *   muon_update     w = float((hi[i] << 16) | lo[i])   (the exact fp32 master)
 *                   w = w * decay - lr_eff * float(o[i])
 *                   hi[i] = bits(w) >> 16, lo[i] = bits(w) & 0xffff
 *                   as runtime/ref/optim.c's muon_update; hi, the bf16 weight
 *                   the GEMMs read, is the master truncated toward zero.
 *   cast_bf16       out[i] = bf16(in[i])                  (nearest even)
 * Layouts   every array n contiguous elements; out may be x (in place),
 *           each thread reads its elements before it writes them.
 * Dtypes    x, o, out of combine and normalize: bf16; t, in: fp32; hi:
 *           bf16 bits, lo: uint16.
 * Launch    THREADS threads per block, VEC elements per thread, blocks =
 *           ceil(n / (THREADS * VEC)), no shared memory. Pointers 16-byte
 *           aligned; n is any count (the last thread finishes the tail one
 *           element at a time); muon_normalize needs per_matrix % VEC == 0.
 * Determinism  elementwise, no atomics: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
muon_normalize_{{SUFFIX}}(__nv_bfloat16 *x, const float *sumsq, float eps, long long per_matrix, long long n) {
    long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    /* A vector lies within one matrix: per_matrix % VEC == 0. */
    const float d = sqrtf(sumsq[i / per_matrix]) + eps;
    if (i + {{VEC}} <= n) {
        Vec<__nv_bfloat16, {{VEC}}> v = vec_load<__nv_bfloat16, {{VEC}}>(x + i);
        for (int e = 0; e < {{VEC}}; e++) v.v[e] = __float2bfloat16(__bfloat162float(v.v[e]) / d);
        vec_store<__nv_bfloat16, {{VEC}}>(x + i, v);
        return;
    }
    for (; i < n; i++) x[i] = __float2bfloat16(__bfloat162float(x[i]) / d);
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
muon_combine_{{SUFFIX}}(__nv_bfloat16 *out, const __nv_bfloat16 *x, const float *t, float a, float b,
                        long long n) {
    long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i + {{VEC}} <= n) {
        const Vec<__nv_bfloat16, {{VEC}}> xv = vec_load<__nv_bfloat16, {{VEC}}>(x + i);
        const Vec<float, {{VEC}}> tv = vec_load<float, {{VEC}}>(t + i);
        Vec<__nv_bfloat16, {{VEC}}> o;
        for (int e = 0; e < {{VEC}}; e++) o.v[e] = __float2bfloat16(a * __bfloat162float(xv.v[e]) + b * tv.v[e]);
        vec_store<__nv_bfloat16, {{VEC}}>(out + i, o);
        return;
    }
    for (; i < n; i++) out[i] = __float2bfloat16(a * __bfloat162float(x[i]) + b * t[i]);
}

/* One master element: rebuilt from its planes, updated, split again. */
__device__ inline void muon_update_one_{{SUFFIX}}(__nv_bfloat16 &hi, unsigned short &lo, __nv_bfloat16 o,
                                                  float decay, float lr_eff) {
    float w = __uint_as_float(((unsigned)__bfloat16_as_ushort(hi) << 16) | lo);
    w = w * decay - lr_eff * __bfloat162float(o);
    const unsigned bits = __float_as_uint(w);
    hi = __ushort_as_bfloat16((unsigned short)(bits >> 16));
    lo = (unsigned short)(bits & 0xffffu);
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
muon_update_{{SUFFIX}}(__nv_bfloat16 *hi, unsigned short *lo, const __nv_bfloat16 *o, float decay,
                       float lr_eff, long long n) {
    long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i + {{VEC}} <= n) {
        Vec<__nv_bfloat16, {{VEC}}> h = vec_load<__nv_bfloat16, {{VEC}}>(hi + i);
        Vec<unsigned short, {{VEC}}> l = vec_load<unsigned short, {{VEC}}>(lo + i);
        const Vec<__nv_bfloat16, {{VEC}}> ov = vec_load<__nv_bfloat16, {{VEC}}>(o + i);
        for (int e = 0; e < {{VEC}}; e++) muon_update_one_{{SUFFIX}}(h.v[e], l.v[e], ov.v[e], decay, lr_eff);
        vec_store<__nv_bfloat16, {{VEC}}>(hi + i, h);
        vec_store<unsigned short, {{VEC}}>(lo + i, l);
        return;
    }
    for (; i < n; i++) muon_update_one_{{SUFFIX}}(hi[i], lo[i], o[i], decay, lr_eff);
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
cast_bf16_{{SUFFIX}}(__nv_bfloat16 *out, const float *in, long long n) {
    long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i + {{VEC}} <= n) {
        const Vec<float, {{VEC}}> v = vec_load<float, {{VEC}}>(in + i);
        Vec<__nv_bfloat16, {{VEC}}> o;
        for (int e = 0; e < {{VEC}}; e++) o.v[e] = __float2bfloat16(v.v[e]);
        vec_store<__nv_bfloat16, {{VEC}}>(out + i, o);
        return;
    }
    for (; i < n; i++) out[i] = __float2bfloat16(in[i]);
}
