// wgmma.cu: test kernels for prims.cuh's warpgroup products. One warpgroup
// (128 threads) computes, as attention's forward does,
//   S = A Bt^T        A: 64 x 128, Bt: NS x 128, both K-major (wgmma_ss<NS>),
//   O = bf16(S) V     V: NS x NO, N-major, S's accumulators turned into
//                     mma A fragments in registers (wgmma_rs_tb<NO>),
// with every operand staged through the 128-byte-swizzled layout that the
// prims document, written here from its definition (chunk c of row r of a
// 64-column block at c ^ (r % 8)). K = 128 takes A and Bt through two
// column blocks; V's NO = 128 through two blocks at LBO (4 KiB apart for
// NS = 32). On sm_90a NVRTC compiles the wgmma instructions, elsewhere the
// twin: both must give the host's product (tests/sim/test_sim.cc).
#include "prims.cuh"

// Element offset of (r, c) in an R-row tile of the swizzled layout.
template <int R>
__device__ __forceinline__ int wg_at(int r, int c) {
    return (c / 64) * R * 64 + r * 64 + ((((c % 64) >> 3) ^ (r & 7)) << 3) + (c & 7);
}

template <int R, int C>
__device__ __forceinline__ void wg_stage(__nv_bfloat16 *s, const __nv_bfloat16 *g) {
    for (int i = (int)threadIdx.x; i < R * C; i += (int)blockDim.x) s[wg_at<R>(i / C, i % C)] = g[i];
}

template <int NS, int NO>
__device__ __forceinline__ void wg_product(const __nv_bfloat16 *a, const __nv_bfloat16 *bt, const __nv_bfloat16 *v,
                                           float *s_out, float *o_out) {
    GPTC_DYN_SMEM(unsigned char, raw);
    __nv_bfloat16 *sa = reinterpret_cast<__nv_bfloat16 *>(wg_align(raw));
    __nv_bfloat16 *sb = sa + 64 * 128, *sv = sb + NS * 128;
    wg_stage<64, 128>(sa, a);
    wg_stage<NS, 128>(sb, bt);
    wg_stage<NS, NO>(sv, v);
    fence_proxy_async();
    __syncthreads();
    float s[NS / 8][4], o[NO / 8][4];
    wg_fence();
    // k-slice kk: column block kk / 4, 16 columns (32 bytes) in per kk % 4
    for (int kk = 0; kk < 8; kk++)
        wgmma_ss<NS>(s, wg_desc(sa + (kk / 4) * 64 * 64 + (kk % 4) * 16, 16, 1024),
                     wg_desc(sb + (kk / 4) * NS * 64 + (kk % 4) * 16, 16, 1024), kk > 0);
    wg_commit();
    wg_wait<0>();
    wg_keep<NS / 8>(s);
    unsigned p[NS / 16][4];
    for (int j = 0; j < NS / 16; j++) {
        const __nv_bfloat162 x0 = __floats2bfloat162_rn(s[2 * j][0], s[2 * j][1]);
        const __nv_bfloat162 x1 = __floats2bfloat162_rn(s[2 * j][2], s[2 * j][3]);
        const __nv_bfloat162 x2 = __floats2bfloat162_rn(s[2 * j + 1][0], s[2 * j + 1][1]);
        const __nv_bfloat162 x3 = __floats2bfloat162_rn(s[2 * j + 1][2], s[2 * j + 1][3]);
        p[j][0] = *reinterpret_cast<const unsigned *>(&x0);
        p[j][1] = *reinterpret_cast<const unsigned *>(&x1);
        p[j][2] = *reinterpret_cast<const unsigned *>(&x2);
        p[j][3] = *reinterpret_cast<const unsigned *>(&x3);
    }
    wg_fence();
    for (int j = 0; j < NS / 16; j++) wgmma_rs_tb<NO>(o, p[j], wg_desc(sv + j * 16 * 64, NS * 128, 1024), j > 0);
    wg_commit();
    wg_wait<0>();
    wg_keep<NO / 8>(o);
    wg_keep<NS / 16>(p);
    const int w = (int)(threadIdx.x >> 5), g = (int)(gptc_lane() >> 2), t = (int)(gptc_lane() & 3u);
    for (int h = 0; h < 2; h++) {
        const int row = 16 * w + g + 8 * h;
        for (int i = 0; i < NS / 8; i++)
            for (int e = 0; e < 2; e++) s_out[row * NS + 8 * i + 2 * t + e] = s[i][2 * h + e];
        for (int i = 0; i < NO / 8; i++)
            for (int e = 0; e < 2; e++) o_out[row * NO + 8 * i + 2 * t + e] = o[i][2 * h + e];
    }
}

// a: 64 x 128, bt: 64 x 128, v: 64 x 128 (row-major); s: 64 x 64, o: 64 x 128.
extern "C" __global__ void wgmma_n64(const __nv_bfloat16 *a, const __nv_bfloat16 *bt, const __nv_bfloat16 *v,
                                     float *s, float *o) {
    wg_product<64, 128>(a, bt, v, s, o);
}

// a: 64 x 128, bt: 32 x 128, v: 32 x 128; s: 64 x 32, o: 64 x 128.
extern "C" __global__ void wgmma_n32(const __nv_bfloat16 *a, const __nv_bfloat16 *bt, const __nv_bfloat16 *v,
                                     float *s, float *o) {
    wg_product<32, 128>(a, bt, v, s, o);
}

// a: 64 x 128, bt: 128 x 128, v: 128 x 64; s: 64 x 128, o: 64 x 64.
extern "C" __global__ void wgmma_n128(const __nv_bfloat16 *a, const __nv_bfloat16 *bt, const __nv_bfloat16 *v,
                                      float *s, float *o) {
    wg_product<128, 64>(a, bt, v, s, o);
}

// The planted bugs that late products show (tests/sim/test_sim.cc): S =
// A Bt^T at N = 64 with its accumulators read before the wait that covers
// them (early 1, which reads the zeros they started as), or never waited
// for (early 2); early 0 is right.
extern "C" __global__ void wgmma_early(const __nv_bfloat16 *a, const __nv_bfloat16 *bt, float *s_out, int early) {
    GPTC_DYN_SMEM(unsigned char, raw);
    __nv_bfloat16 *sa = reinterpret_cast<__nv_bfloat16 *>(wg_align(raw)), *sb = sa + 64 * 128;
    wg_stage<64, 128>(sa, a);
    wg_stage<64, 128>(sb, bt);
    fence_proxy_async();
    __syncthreads();
    float s[8][4] = {};
    wg_keep<8>(s);
    wg_fence();
    for (int kk = 0; kk < 8; kk++)
        wgmma_ss<64>(s, wg_desc(sa + (kk / 4) * 64 * 64 + (kk % 4) * 16, 16, 1024),
                     wg_desc(sb + (kk / 4) * 64 * 64 + (kk % 4) * 16, 16, 1024), kk > 0);
    wg_commit();
    if (early == 0) wg_wait<0>();
    float first[8][4];
    for (int i = 0; i < 8; i++)
        for (int e = 0; e < 4; e++) first[i][e] = s[i][e];
    if (early == 1) wg_wait<0>();
    const int w = (int)(threadIdx.x >> 5), g = (int)(gptc_lane() >> 2), t = (int)(gptc_lane() & 3u);
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 8; i++)
            for (int e = 0; e < 2; e++) s_out[(16 * w + g + 8 * h) * 64 + 8 * i + 2 * t + e] = first[i][2 * h + e];
}

// S = A Bt^T at N = 64 with A and Bt copied into the layout by cp.async and
// waited for, then fenced for the async proxy (fence 1) or not (fence 0, the
// planted bug: on a GPU wgmma may read the tiles as they were before the
// copies). a and bt are already in the layout (64 x 128 each).
extern "C" __global__ void wgmma_fenced(const __nv_bfloat16 *a, const __nv_bfloat16 *bt, float *s_out, int fence) {
    GPTC_DYN_SMEM(unsigned char, raw);
    __nv_bfloat16 *sa = reinterpret_cast<__nv_bfloat16 *>(wg_align(raw)), *sb = sa + 64 * 128;
    for (int i = (int)threadIdx.x; i < 64 * 128 / 8; i += (int)blockDim.x) {
        cp_async_16(sa + 8 * i, a + 8 * i, true);
        cp_async_16(sb + 8 * i, bt + 8 * i, true);
    }
    cp_async_commit();
    cp_async_wait<0>();
    if (fence) fence_proxy_async();
    __syncthreads();
    float s[8][4];
    wg_fence();
    for (int kk = 0; kk < 8; kk++)
        wgmma_ss<64>(s, wg_desc(sa + (kk / 4) * 64 * 64 + (kk % 4) * 16, 16, 1024),
                     wg_desc(sb + (kk / 4) * 64 * 64 + (kk % 4) * 16, 16, 1024), kk > 0);
    wg_commit();
    wg_wait<0>();
    wg_keep<8>(s);
    const int w = (int)(threadIdx.x >> 5), g = (int)(gptc_lane() >> 2), t = (int)(gptc_lane() & 3u);
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 8; i++)
            for (int e = 0; e < 2; e++) s_out[(16 * w + g + 8 * h) * 64 + 8 * i + 2 * t + e] = s[i][2 * h + e];
}
