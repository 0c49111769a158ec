// bf16.cu: test kernels for bf16 conversions: float -> bf16 rounded to
// nearest even and toward zero, back to float, and the pair functions and
// prims' bf16x2 load/store. One thread per element (per pair).
#include "prims.cuh"

extern "C" __global__ void bf16_convert(const float *__restrict__ x, unsigned short *__restrict__ rn,
                                        unsigned short *__restrict__ rz, float *__restrict__ back, int n) {
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n) return;
    rn[i] = __bfloat16_as_ushort(__float2bfloat16(x[i]));
    rz[i] = __bfloat16_as_ushort(__float2bfloat16_rz(x[i]));
    back[i] = __bfloat162float(__float2bfloat16(x[i]));
}

// Pair i of x: lo/hi through __floats2bfloat162_rn, and a store and load
// through prims (packed must hold 2 * pairs bf16, 4-byte aligned).
extern "C" __global__ void bf16_pairs(const float *__restrict__ x, float *__restrict__ lo, float *__restrict__ hi,
                                      __nv_bfloat16 *__restrict__ packed, float *__restrict__ reload, int pairs) {
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= pairs) return;
    const __nv_bfloat162 p = __floats2bfloat162_rn(x[2 * i], x[2 * i + 1]);
    lo[i] = __low2float(p);
    hi[i] = __high2float(p);
    st_bf16x2(packed + 2 * i, x[2 * i], x[2 * i + 1]);
    const float2 f = ld_bf16x2(packed + 2 * i);
    reload[2 * i] = f.x;
    reload[2 * i + 1] = f.y;
}
