// mma.cu: test kernels for the tensor-core prims of templates/prims.cuh.
// One warp computes D = A * B + C for A 16x16 and B 16x16 (two 16x8 tiles),
// bf16 inputs and fp32 accumulators. mma_ldmatrix stages A and B^T in shared
// memory and loads the fragments with ldmatrix_x4; mma_ldmatrix_trans
// stages B itself (row-major, k x n) and loads its fragments with
// ldmatrix_x4_trans; mma_direct builds them from the fragment layout with
// plain loads. All must match the same product, which ties the prims'
// readings of the PTX layouts together.
#include "prims.cuh"

// a: A row-major; bt: B transposed (bt[n][k], the .col layout); c, d: 16x16
// row-major fp32.
extern "C" __global__ void mma_ldmatrix(const __nv_bfloat16 *__restrict__ a, const __nv_bfloat16 *__restrict__ bt,
                                        const float *__restrict__ c, float *__restrict__ d) {
    __shared__ __align__(16) __nv_bfloat16 sa[16 * 16];
    __shared__ __align__(16) __nv_bfloat16 sb[16 * 16];
    const unsigned lane = gptc_lane(), g = lane >> 2, t = lane & 3u;
    for (unsigned i = lane; i < 16 * 16; i += 32) {
        sa[i] = a[i];
        sb[i] = bt[i];
    }
    __syncwarp();
    // Lane l addresses row l % 8 of matrix l / 8. A's matrices, in the order
    // of a[0..3]: rows 0-7 / 8-15 of columns 0-7, then of columns 8-15.
    unsigned fa[4], fb[4];
    ldmatrix_x4(fa, sa + ((lane & 7u) + 8 * ((lane >> 3) & 1u)) * 16 + 8 * (lane >> 4));
    // B^T's: for columns n 0-7, k 0-7 then k 8-15 (b[0], b[1] of the first
    // 16x8 tile); then the same for n 8-15.
    ldmatrix_x4(fb, sb + ((lane & 7u) + 8 * (lane >> 4)) * 16 + 8 * ((lane >> 3) & 1u));
    for (unsigned half = 0; half < 2; half++) {
        const unsigned n0 = 8 * half + 2 * t;
        float acc[4] = {c[g * 16 + n0], c[g * 16 + n0 + 1], c[(g + 8) * 16 + n0], c[(g + 8) * 16 + n0 + 1]};
        mma_bf16_16816(acc, fa, fb + 2 * half, acc);
        d[g * 16 + n0] = acc[0];
        d[g * 16 + n0 + 1] = acc[1];
        d[(g + 8) * 16 + n0] = acc[2];
        d[(g + 8) * 16 + n0 + 1] = acc[3];
    }
}

// As mma_ldmatrix, with B staged untransposed (sb[k][n]) and read by
// ldmatrix_x4_trans: lane l addresses row k = l % 8 + 8 ((l / 8) % 2),
// columns 8 (l / 16) onwards, so r[0..1] are b[0..1] of columns n 0-7 and
// r[2..3] those of columns 8-15.
extern "C" __global__ void mma_ldmatrix_trans(const __nv_bfloat16 *__restrict__ a,
                                              const __nv_bfloat16 *__restrict__ bt,
                                              const float *__restrict__ c, float *__restrict__ d) {
    __shared__ __align__(16) __nv_bfloat16 sa[16 * 16];
    __shared__ __align__(16) __nv_bfloat16 sb[16 * 16];
    const unsigned lane = gptc_lane(), g = lane >> 2, t = lane & 3u;
    for (unsigned i = lane; i < 16 * 16; i += 32) {
        sa[i] = a[i];
        sb[i] = bt[(i % 16) * 16 + i / 16];
    }
    __syncwarp();
    unsigned fa[4], fb[4];
    const unsigned row = (lane & 7u) + 8 * ((lane >> 3) & 1u), col = 8 * (lane >> 4);
    ldmatrix_x4(fa, sa + row * 16 + col);
    ldmatrix_x4_trans(fb, sb + row * 16 + col);
    for (unsigned half = 0; half < 2; half++) {
        const unsigned n0 = 8 * half + 2 * t;
        float acc[4] = {c[g * 16 + n0], c[g * 16 + n0 + 1], c[(g + 8) * 16 + n0], c[(g + 8) * 16 + n0 + 1]};
        mma_bf16_16816(acc, fa, fb + 2 * half, acc);
        d[g * 16 + n0] = acc[0];
        d[g * 16 + n0 + 1] = acc[1];
        d[(g + 8) * 16 + n0] = acc[2];
        d[(g + 8) * 16 + n0 + 1] = acc[3];
    }
}

// Two adjacent bf16 (the lower index in the low half) as one register.
__device__ __forceinline__ unsigned pack2(const __nv_bfloat16 *p) {
    return (unsigned)__bfloat16_as_ushort(p[0]) | ((unsigned)__bfloat16_as_ushort(p[1]) << 16);
}

extern "C" __global__ void mma_direct(const __nv_bfloat16 *__restrict__ a, const __nv_bfloat16 *__restrict__ bt,
                                      const float *__restrict__ c, float *__restrict__ d) {
    const unsigned lane = gptc_lane(), g = lane >> 2, t = lane & 3u;
    const unsigned fa[4] = {pack2(a + g * 16 + 2 * t), pack2(a + (g + 8) * 16 + 2 * t), pack2(a + g * 16 + 2 * t + 8),
                            pack2(a + (g + 8) * 16 + 2 * t + 8)};
    for (unsigned half = 0; half < 2; half++) {
        const unsigned n = 8 * half + g, n0 = 8 * half + 2 * t;
        const unsigned fb[2] = {pack2(bt + n * 16 + 2 * t), pack2(bt + n * 16 + 2 * t + 8)};
        float acc[4] = {c[g * 16 + n0], c[g * 16 + n0 + 1], c[(g + 8) * 16 + n0], c[(g + 8) * 16 + n0 + 1]};
        mma_bf16_16816(acc, fa, fb, acc);
        d[g * 16 + n0] = acc[0];
        d[g * 16 + n0 + 1] = acc[1];
        d[(g + 8) * 16 + n0] = acc[2];
        d[(g + 8) * 16 + n0 + 1] = acc[3];
    }
}

// movmatrix_trans on an 8x8 matrix m (row-major): each lane loads its
// fragment (row g, columns 2t..2t+1), transposes it and stores the result
// as the fragment of out, which must then be m transposed.
extern "C" __global__ void movmatrix_t(const __nv_bfloat16 *__restrict__ m, __nv_bfloat16 *__restrict__ out) {
    const unsigned lane = gptc_lane(), g = lane >> 2, t = lane & 3u;
    const unsigned x = movmatrix_trans(pack2(m + g * 8 + 2 * t));
    out[g * 8 + 2 * t] = __ushort_as_bfloat16((unsigned short)(x & 0xffffu));
    out[g * 8 + 2 * t + 1] = __ushort_as_bfloat16((unsigned short)(x >> 16));
}
