/*
 * cast.cu: bf16 rows widened to fp32.
 *
 * Computes  y[t, j] = float(x[t, j]), exact (every bf16 is an fp32).
 *           The head's weight gradient is an fp32 GEMM of the fp32
 *           logit gradients with the final norm's output, and a GEMM's
 *           operands share one dtype (runtime/gpu.h), so that output is
 *           widened once per step rather than the logits narrowed.
 * Layouts   x, y: [rows, WIDTH] row-major, WIDTH = the model's dim.
 * Launch    THREADS threads per block, VEC elements per thread, blocks =
 *           ceil(rows * WIDTH / (THREADS * VEC)), no shared memory.
 *           Pointers 16-byte aligned and WIDTH % VEC == 0.
 * Determinism  elementwise, exact.
 * Placeholders  SUFFIX (kernel-name suffix), WIDTH, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
cast_f32_{{SUFFIX}}(float *y, const __nv_bfloat16 *x, int rows) {
    const long long n = (long long)rows * {{WIDTH}};
    const long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    const Vec<__nv_bfloat16, {{VEC}}> v = vec_load<__nv_bfloat16, {{VEC}}>(x + i);
    for (int e = 0; e < {{VEC}}; e++) y[i + e] = __bfloat162float(v.v[e]);
}
