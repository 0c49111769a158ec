/*
 * skip.cu: a U-net skip's backward: the source's gradient and the first
 * stage of the skip weight's gradient (templates/colsum.cu is the second).
 *
 * Computes, with w = scalars[skip_off] (spec_skip_index of the source layer)
 * and dxs the gradient at the target's xs (x0_lambda_grad's output):
 *   dsrc[t, d] += w * dxs[t, d]        (fp32, one rounding to bf16)
 *   d w = sum over (t, d) of dxs[t, d] * src[t, d], as block b's share in
 *   partial[b]; colsum with n = PARTS, cols = 1, scale 1, accumulate 1 and
 *   out_off = skip_off adds it into the fp32 scalar gradients.
 *   The ref executor's dot and axpy (runtime/ref/reduce.h, elementwise.h);
 *   its dot sums in double, this in fp32 (the bf16 products are exact).
 * Layouts   dsrc, dxs, src: [rows, WIDTH] row-major; partial: [PARTS] fp32.
 * Launch    exactly PARTS blocks of THREADS threads (a fixed grid, whatever
 *           `rows` is), no dynamic shared memory. Thread i of block b takes
 *           the VEC-element vectors b * THREADS + i, then + PARTS * THREADS,
 *           and so on. Pointers 16-byte aligned, WIDTH % VEC == 0.
 * Determinism  no atomics; each thread sums its vectors in order (VEC
 *           products each, then added to its running sum), block_sum joins
 *           the threads in a fixed tree: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), WIDTH, PARTS, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
skip_bwd_{{SUFFIX}}(__nv_bfloat16 *dsrc, float *partial, const __nv_bfloat16 *dxs, const __nv_bfloat16 *src,
                    const float *scalars, int skip_off, int rows) {
    const long long nvec = (long long)rows * ({{WIDTH}} / {{VEC}});
    const float w = scalars[skip_off];
    float acc = 0.0f;
    for (long long v = (long long)blockIdx.x * {{THREADS}} + threadIdx.x; v < nvec;
         v += (long long){{PARTS}} * {{THREADS}}) {
        const long long i = v * {{VEC}};
        const Vec<__nv_bfloat16, {{VEC}}> g = vec_load<__nv_bfloat16, {{VEC}}>(dxs + i);
        const Vec<__nv_bfloat16, {{VEC}}> a = vec_load<__nv_bfloat16, {{VEC}}>(src + i);
        Vec<__nv_bfloat16, {{VEC}}> d = vec_load<__nv_bfloat16, {{VEC}}>(dsrc + i);
        float s = 0.0f;
        for (int e = 0; e < {{VEC}}; e++) {
            const float gf = __bfloat162float(g.v[e]);
            s += gf * __bfloat162float(a.v[e]);
            d.v[e] = __float2bfloat16(__bfloat162float(d.v[e]) + w * gf);
        }
        vec_store<__nv_bfloat16, {{VEC}}>(dsrc + i, d);
        acc += s;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}
