/*
 * adam.cu: one Adam step on an fp32 tensor and its fp32 moments, in the
 * torch.optim.AdamW form that runtime/ref/optim.c uses (bit for bit, given
 * NVRTC's --fmad=false):
 *
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g * g
 *   p = p * decay - step_size * m / (sqrt(v) * rbc2 + eps)
 *
 * Arguments, not constants, because they change every step. The host
 * computes them in double, as optim.c does, and rounds each to float:
 *   decay = 1 - lr * weight_decay, step_size = lr / bc1, rbc2 = 1 / sqrt(bc2),
 *   bc1 = 1 - beta1^(step+1), bc2 = 1 - beta2^(step+1), lr with its schedule.
 * Layouts   p, m, v, g: n contiguous fp32 values each. p, m and v are
 *           updated in place.
 * Launch    THREADS threads per block, VEC elements per thread, blocks =
 *           ceil(n / (THREADS * VEC)), no shared memory. Pointers 16-byte
 *           aligned; n is any count: the last thread finishes the tail that
 *           does not fill a vector, one element at a time.
 * Determinism  elementwise, no atomics: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

/* Named per instance, like the kernel, so that a kernels.cu may hold
 * several instances of this template. */
__device__ inline void adam_one_{{SUFFIX}}(float &p, float &m, float &v, float g, float beta1,
                                        float beta2, float eps, float decay, float step_size,
                                        float rbc2) {
    m = beta1 * m + (1.0f - beta1) * g;
    v = beta2 * v + (1.0f - beta2) * g * g;
    p = p * decay - step_size * m / (sqrtf(v) * rbc2 + eps);
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
adam_{{SUFFIX}}(float *p, float *m, float *v, const float *g, long long n, float beta1,
                float beta2, float eps, float decay, float step_size, float rbc2) {
    long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i + {{VEC}} <= n) {
        Vec<float, {{VEC}}> pv = vec_load<float, {{VEC}}>(p + i), mv = vec_load<float, {{VEC}}>(m + i);
        Vec<float, {{VEC}}> vv = vec_load<float, {{VEC}}>(v + i);
        const Vec<float, {{VEC}}> gv = vec_load<float, {{VEC}}>(g + i);
        for (int e = 0; e < {{VEC}}; e++)
            adam_one_{{SUFFIX}}(pv.v[e], mv.v[e], vv.v[e], gv.v[e], beta1, beta2, eps, decay,
                                step_size, rbc2);
        vec_store<float, {{VEC}}>(p + i, pv);
        vec_store<float, {{VEC}}>(m + i, mv);
        vec_store<float, {{VEC}}>(v + i, vv);
        return;
    }
    for (; i < n; i++)
        adam_one_{{SUFFIX}}(p[i], m[i], v[i], g[i], beta1, beta2, eps, decay, step_size, rbc2);
}
