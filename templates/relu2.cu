/*
 * relu2.cu: the MLP activation, relu(x)^2, forward and backward.
 *
 * Computes
 *   forward   act[t, j]  = r * r, with r = pre[t, j] > 0 ? pre[t, j] : 0
 *   backward  dpre[t, j] = dact[t, j] * (pre[t, j] > 0 ? 2 * pre[t, j] : 0)
 *   exactly as the ref executor writes them (a NaN input gives 0).
 * Layouts   pre, act, dact, dpre: [rows, WIDTH] row-major, WIDTH = the
 *           model's mlp_hidden. act may be pre and dpre may be dact: each
 *           thread reads its elements before it writes them.
 * Dtypes    bf16 in and out, fp32 math, one rounding to bf16 (nearest even).
 * Launch    THREADS threads per block, VEC elements per thread, blocks =
 *           ceil(rows * WIDTH / (THREADS * VEC)), no shared memory. Pointers
 *           16-byte aligned and WIDTH % VEC == 0, so vectors never straddle
 *           the end: the only bounds check is the grid's tail.
 * Determinism  elementwise, no atomics: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), WIDTH, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
relu2_fwd_{{SUFFIX}}(__nv_bfloat16 *act, const __nv_bfloat16 *pre, int rows) {
    const long long n = (long long)rows * {{WIDTH}};
    const long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    const Vec<__nv_bfloat16, {{VEC}}> p = vec_load<__nv_bfloat16, {{VEC}}>(pre + i);
    Vec<__nv_bfloat16, {{VEC}}> out;
    for (int e = 0; e < {{VEC}}; e++) {
        const float x = __bfloat162float(p.v[e]);
        const float r = x > 0.0f ? x : 0.0f;
        out.v[e] = __float2bfloat16(r * r);
    }
    vec_store<__nv_bfloat16, {{VEC}}>(act + i, out);
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
relu2_bwd_{{SUFFIX}}(__nv_bfloat16 *dpre, const __nv_bfloat16 *dact, const __nv_bfloat16 *pre,
                     int rows) {
    const long long n = (long long)rows * {{WIDTH}};
    const long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    const Vec<__nv_bfloat16, {{VEC}}> p = vec_load<__nv_bfloat16, {{VEC}}>(pre + i);
    const Vec<__nv_bfloat16, {{VEC}}> g = vec_load<__nv_bfloat16, {{VEC}}>(dact + i);
    Vec<__nv_bfloat16, {{VEC}}> out;
    for (int e = 0; e < {{VEC}}; e++) {
        const float x = __bfloat162float(p.v[e]);
        out.v[e] = __float2bfloat16(__bfloat162float(g.v[e]) * (x > 0.0f ? 2.0f * x : 0.0f));
    }
    vec_store<__nv_bfloat16, {{VEC}}>(dpre + i, out);
}
