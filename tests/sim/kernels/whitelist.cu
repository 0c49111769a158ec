// whitelist.cu: one use of every math intrinsic that runtime/device/sim/cuda_emu.h
// promises (math_whitelist), of prims.cuh's special functions without
// denormals (special_ftz), and of the vector types, fences, atomics and
// prims that no other test kernel uses (api_misc), so that NVRTC proves each
// name and signature exists in CUDA and the sim test checks the values.
#include "prims.cuh"

#define MATH_OPS 32

// Thread i (of one block) computes MATH_OPS results from x[i] > 0 into
// out[k * blockDim.x + i].
extern "C" __global__ void math_whitelist(const float *__restrict__ x, float *__restrict__ out) {
    const unsigned n = blockDim.x, i = threadIdx.x;
    const float v = x[i];
    float r[MATH_OPS];
    r[0] = expf(v);
    r[1] = __expf(v);
    r[2] = logf(v);
    r[3] = __logf(v);
    r[4] = sqrtf(v);
    r[5] = rsqrtf(v);
    r[6] = tanhf(v);
    r[7] = fmaxf(v, 0.5f);
    r[8] = fminf(v, 0.5f);
    r[9] = fabsf(-v);
    r[10] = __int_as_float(__float_as_int(v));
    r[11] = __uint_as_float(__float_as_uint(v));
    r[12] = __fdividef(v, 3.0f);
    r[13] = exp2f(v);
    r[14] = sinf(v);
    r[15] = cosf(v);
    r[16] = __sinf(v);
    r[17] = __cosf(v);
    r[18] = __powf(v, 1.5f);
    r[19] = __frcp_rn(v);
    r[20] = __fsqrt_rn(v);
    r[21] = __fmaf_rn(v, 2.0f, 1.0f);
    r[22] = __saturatef(v - 0.5f);
    r[23] = fmaf(v, v, -1.0f);
    r[24] = floorf(v * 3.0f);
    r[25] = ceilf(v * 3.0f);
    r[26] = (float)__popc(i);
    r[27] = (float)__clz((int)i + 1);
    r[28] = (float)__ffs((int)i);
    r[29] = (float)(min((int)i, 3) + max(i, 2u));
    r[30] = __ldg(x + i);
    const __nv_bfloat162 h = __float22bfloat162_rn(make_float2(v, -v));
    r[31] = __bfloat162float(__low2bfloat16(__halves2bfloat162(__high2bfloat16(h), __float2bfloat16_rn(v))));
    for (int k = 0; k < MATH_OPS; k++) out[k * n + i] = r[k];
}

// Thread i (of one block) writes gptc_ex2, gptc_rsqrt and gptc_rcp of x[i]
// to out[i], out[n + i] and out[2n + i], n = blockDim.x.
extern "C" __global__ void special_ftz(const float *__restrict__ x, float *__restrict__ out) {
    const unsigned n = blockDim.x, i = threadIdx.x;
    out[i] = gptc_ex2(x[i]);
    out[n + i] = gptc_rsqrt(x[i]);
    out[2 * n + i] = gptc_rcp(x[i]);
}

// Thread i copies x[4i..4i+3] to y through float4, and adds i to the
// counters: counts[0] += i, counts[1] = max(counts[1], i); blockDim.x
// threads, one block.
extern "C" __global__ void api_misc(const float *__restrict__ x, float *__restrict__ y, unsigned *__restrict__ counts) {
    const unsigned i = threadIdx.x;
    const float4 v = ld_f4(x + 4 * i);
    const int2 a = make_int2(1, 2);
    const int4 b = make_int4(3, 4, 5, 6);
    const uint2 c = make_uint2(7u, 8u);
    const uint4 d = make_uint4(9u, 10u, 11u, 12u);
    const float k = (float)(a.x + a.y + b.x + b.y + b.z + b.w) + (float)(c.x + c.y + d.x + d.y + d.z + d.w) - 78.0f;
    st_f4(y + 4 * i, make_float4(v.x + k, v.y, v.z, v.w));
    __threadfence_block();
    gptc_atomic_add(&counts[0], i);
    gptc_atomic_max(&counts[1], i);
    __threadfence();
}
