// prims.cuh: the prelude of every kernel template, and the only file with
// inline PTX (docs/design.md, 'Kernel templates').
//
// Under a CUDA compiler (NVRTC, nvcc) it includes <cuda_bf16.h>; under the
// host C++ compiler it includes runtime/device/sim/cuda_emu.h, so one kernel source
// compiles with both (add -Iruntime/sim for the host compiler, and
// -I<cuda>/include -Itemplates for NVRTC). On top it defines what kernels
// share:
//   - GPTC_DYN_SMEM(T, name): the kernel's dynamic shared memory as a T*;
//   - gptc_atomic_add/_max: the only atomics kernels may use;
//   - gptc_thread_rank, gptc_lane, warp_sum/max, block_sum/max, group_sum:
//     reductions built on shuffles, the same code on both sides;
//   - ld/st helpers for bf16 pairs and float4;
//   - gptc_ex2, gptc_rsqrt, gptc_rcp: one special-function (MUFU)
//     instruction each, flushing denormals, and a twin computed by libm;
//   - cp_async_16, cp_async_4, cp_async_commit, cp_async_wait: copies
//     from global to shared memory that run while the thread computes;
//   - ldmatrix_x4, ldmatrix_x4_trans, movmatrix_trans and mma_bf16_16816:
//     inline PTX on the GPU, and a portable twin with the same signature
//     and result built on warp shuffles (for the host compiler, or
//     anywhere with -DGPTC_PRIMS_PORTABLE, which lets a GPU test compare
//     the twin with the hardware);
//   - wg_desc, wgmma_ss, wgmma_rs_tb and their fences: sm_90a's
//     warpgroup products over shared-memory descriptors, with a portable
//     twin that reads the same layouts (below, 'Warpgroup products').
// Kernels include nothing else: no libc or C++ headers (NVRTC has none).
#ifndef GPTC_PRIMS_CUH
#define GPTC_PRIMS_CUH

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

#include <cuda_bf16.h>

#define GPTC_DYN_SMEM(T, name)                                      \
    extern __shared__ __align__(16) unsigned char gptc_dyn_smem_[]; \
    T *name = reinterpret_cast<T *>(gptc_dyn_smem_)

__device__ __forceinline__ float gptc_atomic_add(float *p, float v) { return atomicAdd(p, v); }
__device__ __forceinline__ int gptc_atomic_add(int *p, int v) { return atomicAdd(p, v); }
__device__ __forceinline__ unsigned gptc_atomic_add(unsigned *p, unsigned v) { return atomicAdd(p, v); }
__device__ __forceinline__ int gptc_atomic_max(int *p, int v) { return atomicMax(p, v); }
__device__ __forceinline__ unsigned gptc_atomic_max(unsigned *p, unsigned v) { return atomicMax(p, v); }

#if !defined(GPTC_PRIMS_PORTABLE)
#define GPTC_PRIMS_PTX 1
// wgmma exists on sm_90a alone (the architecture-specific feature set);
// anywhere else the warpgroup products take their portable twin.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GPTC_WGMMA_PTX 1
#endif
#endif

#else
#include "cuda_emu.h"
#endif

#define GPTC_FULL_MASK 0xffffffffu

// ---- thread indices ----------------------------------------------------------

// The thread's index within its block, x fastest, as warps are formed.
__device__ __forceinline__ unsigned gptc_thread_rank() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
__device__ __forceinline__ unsigned gptc_lane() { return gptc_thread_rank() & 31u; }

// ---- reductions ----------------------------------------------------------------
// Butterfly shuffles: every lane ends with the same, bit-identical result
// (a + b == b + a in IEEE arithmetic). Call from all 32 lanes of full warps.

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(GPTC_FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(GPTC_FULL_MASK, v, o));
    return v;
}

struct GptcSumOp {
    __device__ static float apply(float a, float b) { return a + b; }
    __device__ static float identity() { return 0.0f; }
    __device__ static float warp(float v) { return warp_sum(v); }
};
struct GptcMaxOp {
    __device__ static float apply(float a, float b) { return fmaxf(a, b); }
    __device__ static float identity() { return __uint_as_float(0xff800000u); }  // -inf
    __device__ static float warp(float v) { return warp_max(v); }
};

// Every thread of the block gets the reduction of all threads' v. Contract:
// all threads call it, the block has a multiple of 32 threads (at most
// 1024). The warps' partial results go through shared memory; each warp
// then reduces all of them, so no broadcast step is needed. The leading
// barrier makes back-to-back calls safe: the previous call's reads of
// `partial` are over before anyone writes it again.
template <class Op>
__device__ __forceinline__ float block_reduce(float v) {
    __shared__ float partial[32];
    const unsigned rank = gptc_thread_rank();
    const unsigned nwarps = (blockDim.x * blockDim.y * blockDim.z + 31u) >> 5;
    v = Op::warp(v);
    __syncthreads();
    if ((rank & 31u) == 0) partial[rank >> 5] = v;
    __syncthreads();
    v = (rank & 31u) < nwarps ? partial[rank & 31u] : Op::identity();
    return Op::warp(v);
}
__device__ __forceinline__ float block_sum(float v) { return block_reduce<GptcSumOp>(v); }
__device__ __forceinline__ float block_max(float v) { return block_reduce<GptcMaxOp>(v); }

// The sum over a group of N consecutive threads (N a power of two); every
// thread gets its group's sum, bit-identical within the group. N <= 32: a
// butterfly over lanes xor N/2 .. 1, called by all 32 lanes of the warp,
// each aligned group of N lanes reducing on its own (the order of the
// additions is fixed by N alone). N > 32: the group must be the whole
// block, and this is block_sum.
template <int N>
__device__ __forceinline__ float group_sum(float v) {
    static_assert(N > 0 && (N & (N - 1)) == 0, "group_sum: N must be a power of two");
    if constexpr (N > 32) {
        return block_sum(v);
    } else {
        for (int o = N / 2; o > 0; o >>= 1) v += __shfl_xor_sync(GPTC_FULL_MASK, v, o);
        return v;
    }
}

// ---- loads and stores ----------------------------------------------------------
// p must be aligned to the access (4 bytes for a bf16 pair, 16 for float4).

__device__ __forceinline__ float2 ld_bf16x2(const __nv_bfloat16 *p) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(p));
}
__device__ __forceinline__ void st_bf16x2(__nv_bfloat16 *p, float lo, float hi) {
    *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(lo, hi);
}
__device__ __forceinline__ float4 ld_f4(const float *p) { return *reinterpret_cast<const float4 *>(p); }
__device__ __forceinline__ void st_f4(float *p, float4 v) { *reinterpret_cast<float4 *>(p) = v; }

// ---- special functions without denormals -------------------------------------------
// The GPU's special-function unit alone (one MUFU instruction each):
// ex2.approx.ftz, rsqrt.approx.ftz and rcp.approx.ftz. exp2f, rsqrtf and
// __fdividef(1, x) are the same instruction wrapped in three or four more
// that handle denormal inputs and results (a compare, then predicated
// scalings), which an inner loop that can do without denormals pays for
// nothing. Accuracy as theirs (2 ulp, CUDA's programming guide); a
// denormal input or result is flushed to zero of the same sign. The
// portable twin computes the function to within an ulp (the host's libm)
// and flushes likewise.

#if !defined(GPTC_PRIMS_PTX)
__device__ __forceinline__ float gptc_ftz(float x) { return fabsf(x) < 1.17549435e-38f ? copysignf(0.0f, x) : x; }
#endif

__device__ __forceinline__ float gptc_ex2(float x) {
#if defined(GPTC_PRIMS_PTX)
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return gptc_ftz(exp2f(gptc_ftz(x)));
#endif
}

__device__ __forceinline__ float gptc_rsqrt(float x) {
#if defined(GPTC_PRIMS_PTX)
    float y;
    asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return gptc_ftz(rsqrtf(gptc_ftz(x)));
#endif
}

__device__ __forceinline__ float gptc_rcp(float x) {
#if defined(GPTC_PRIMS_PTX)
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return gptc_ftz(1.0f / gptc_ftz(x));
#endif
}

// ---- asynchronous copies (sm_80+) -------------------------------------------------
// cp.async: the thread queues a copy from global to shared memory and goes
// on; cp_async_commit closes the thread's group of queued copies, and
// cp_async_wait<N>() returns once at most N of its groups are still in
// flight. A copy is visible to other threads only after its group is
// waited for and a barrier follows. `valid` false writes zeros and reads
// nothing (the source may then point anywhere). Both pointers must be
// aligned to the copy's size. On sim the emulator queues the copies per
// thread (cuda_emu.h): they land at once, or, with late copies, only at the
// wait that covers them, the latest a GPU may land them, so that a tile
// read before its wait reads what was there before. A portable build for a
// GPU copies at once, so its commit and wait have nothing to do.

__device__ __forceinline__ void cp_async_16(void *dst, const void *src, bool valid) {
#if defined(GPTC_PRIMS_PTX)
    const unsigned a = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::async_copy(dst, src, 16, valid);
#else
    unsigned *d = reinterpret_cast<unsigned *>(dst);
    const unsigned *s = reinterpret_cast<const unsigned *>(src);
    for (int i = 0; i < 4; i++) d[i] = valid ? s[i] : 0u;
#endif
}

__device__ __forceinline__ void cp_async_4(void *dst, const void *src, bool valid) {
#if defined(GPTC_PRIMS_PTX)
    const unsigned a = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(a), "l"(src), "r"(valid ? 4 : 0)
                 : "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::async_copy(dst, src, 4, valid);
#else
    *reinterpret_cast<unsigned *>(dst) = valid ? *reinterpret_cast<const unsigned *>(src) : 0u;
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(GPTC_PRIMS_PTX)
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::async_commit();
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(GPTC_PRIMS_PTX)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::async_wait(N);
#endif
}

// ---- tensor-core fragments -------------------------------------------------------
// Layouts from the PTX ISA ("Matrix Fragments for mma.m16n8k16 with floating
// point type", "ldmatrix"), with g = lane / 4 and t = lane % 4; two bf16 per
// 32-bit register, the lower index in the low half.
//   A (16x16, row-major): a[0] = A[g][2t..2t+1],   a[1] = A[g+8][2t..2t+1],
//                         a[2] = A[g][2t+8..2t+9], a[3] = A[g+8][2t+8..2t+9]
//   B (16x8, k x n):      b[0] = B[2t..2t+1][g],   b[1] = B[2t+8..2t+9][g]
//   C, D (16x8, fp32):    c[0..1] = C[g][2t..2t+1], c[2..3] = C[g+8][2t..2t+1]
// ldmatrix.x4: lane l gives the address of row l % 8 of 8x8 matrix l / 8
// (8 bf16, 16 bytes, 16-byte aligned, in shared memory); r[m] then holds
// row g, columns 2t..2t+1 of matrix m.

// Loads four 8x8 bf16 matrices from shared memory, one row address per lane.
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], const void *row) {
#if defined(GPTC_PRIMS_PTX)
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#else
    // Each lane fetches the row pointer of the lane that addresses its row.
    const unsigned lane = gptc_lane();
    const unsigned long long p = reinterpret_cast<unsigned long long>(row);
    for (int m = 0; m < 4; m++) {
        const int src = m * 8 + (int)(lane >> 2);
        const unsigned lo = __shfl_sync(GPTC_FULL_MASK, (unsigned)p, src);
        const unsigned hi = __shfl_sync(GPTC_FULL_MASK, (unsigned)(p >> 32), src);
        const unsigned *words = reinterpret_cast<const unsigned *>(((unsigned long long)hi << 32) | lo);
        r[m] = words[lane & 3u];
    }
#endif
}

// As ldmatrix_x4, each matrix transposed (ldmatrix .trans): r[m] holds
// column g, rows 2t..2t+1 of matrix m, the lower row in the low half. This
// gives mma's B fragment straight from a row-major [k][n] tile (rows k).
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned r[4], const void *row) {
#if defined(GPTC_PRIMS_PTX)
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#else
    // Lane (g, t) reads element g of rows 2t and 2t + 1 of each matrix,
    // whose addresses lanes 8m + 2t and 8m + 2t + 1 hold.
    const unsigned lane = gptc_lane();
    const unsigned long long p = reinterpret_cast<unsigned long long>(row);
    for (int m = 0; m < 4; m++) {
        unsigned half[2];
        for (int k = 0; k < 2; k++) {
            const int src = m * 8 + 2 * (int)(lane & 3u) + k;
            const unsigned lo = __shfl_sync(GPTC_FULL_MASK, (unsigned)p, src);
            const unsigned hi = __shfl_sync(GPTC_FULL_MASK, (unsigned)(p >> 32), src);
            const unsigned short *elems =
                reinterpret_cast<const unsigned short *>(((unsigned long long)hi << 32) | lo);
            half[k] = elems[lane >> 2];
        }
        r[m] = half[0] | (half[1] << 16);
    }
#endif
}

// Transposes an 8x8 bf16 matrix held as mma fragments (lane (g, t) holds
// row g, columns 2t..2t+1): afterwards it holds row g, columns 2t..2t+1 of
// the transpose, i.e. column g, rows 2t and 2t + 1 of the original, the
// lower row in the low half (movmatrix .trans, sm_75 and later).
__device__ __forceinline__ unsigned movmatrix_trans(unsigned x) {
#if defined(GPTC_PRIMS_PTX)
    unsigned d;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(d) : "r"(x));
    return d;
#else
    // Element [r][c] lives in lane 4 r + c / 2, half c % 2: rows 2t and
    // 2t + 1 of column g are in lanes 8t + g / 2 and 8t + 4 + g / 2.
    const unsigned lane = gptc_lane(), g = lane >> 2, t = lane & 3u, half = 16u * (g & 1u);
    const unsigned lo = __shfl_sync(GPTC_FULL_MASK, x, (int)(8u * t + (g >> 1)));
    const unsigned hi = __shfl_sync(GPTC_FULL_MASK, x, (int)(8u * t + 4u + (g >> 1)));
    return ((lo >> half) & 0xffffu) | (((hi >> half) & 0xffffu) << 16);
#endif
}

#if !defined(GPTC_PRIMS_PTX)
// The dot product of two bf16 pairs, in fp32 (bf16 products are exact).
__device__ __forceinline__ float gptc_dot_bf16x2(unsigned x, unsigned y) {
    const float x0 = __bfloat162float(__ushort_as_bfloat16((unsigned short)(x & 0xffffu)));
    const float x1 = __bfloat162float(__ushort_as_bfloat16((unsigned short)(x >> 16)));
    const float y0 = __bfloat162float(__ushort_as_bfloat16((unsigned short)(y & 0xffffu)));
    const float y1 = __bfloat162float(__ushort_as_bfloat16((unsigned short)(y >> 16)));
    return x0 * y0 + x1 * y1;
}
#endif

// d = A * B + c for one warp, on 16x16 (A) and 16x8 (B) bf16 tiles with fp32
// accumulators, fragments as above; d may alias c.
__device__ __forceinline__ void mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2],
                                               const float c[4]) {
#if defined(GPTC_PRIMS_PTX)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%10, %11, %12, %13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
          "f"(c[3]));
#else
    // Lane (g, t) owns D[g][2t..2t+1] and D[g+8][2t..2t+1]: it needs rows g
    // and g+8 of A (held by lanes 4g..4g+3) and columns 2t and 2t+1 of B
    // (held by lanes 8t..8t+3 and 8t+4..8t+7). Step q gathers k = 2q, 2q+1
    // (low registers) and 2q+8, 2q+9 (high registers) from the q-th lane of
    // each group; the steps add up in a fixed order.
    const int g = (int)(gptc_lane() >> 2), t = (int)(gptc_lane() & 3u);
    float acc[4] = {c[0], c[1], c[2], c[3]};
    for (int q = 0; q < 4; q++) {
        const unsigned a_g = __shfl_sync(GPTC_FULL_MASK, a[0], 4 * g + q);
        const unsigned a_g8 = __shfl_sync(GPTC_FULL_MASK, a[1], 4 * g + q);
        const unsigned a_g_hi = __shfl_sync(GPTC_FULL_MASK, a[2], 4 * g + q);
        const unsigned a_g8_hi = __shfl_sync(GPTC_FULL_MASK, a[3], 4 * g + q);
        const unsigned b_n0 = __shfl_sync(GPTC_FULL_MASK, b[0], 8 * t + q);
        const unsigned b_n0_hi = __shfl_sync(GPTC_FULL_MASK, b[1], 8 * t + q);
        const unsigned b_n1 = __shfl_sync(GPTC_FULL_MASK, b[0], 8 * t + 4 + q);
        const unsigned b_n1_hi = __shfl_sync(GPTC_FULL_MASK, b[1], 8 * t + 4 + q);
        acc[0] += gptc_dot_bf16x2(a_g, b_n0) + gptc_dot_bf16x2(a_g_hi, b_n0_hi);
        acc[1] += gptc_dot_bf16x2(a_g, b_n1) + gptc_dot_bf16x2(a_g_hi, b_n1_hi);
        acc[2] += gptc_dot_bf16x2(a_g8, b_n0) + gptc_dot_bf16x2(a_g8_hi, b_n0_hi);
        acc[3] += gptc_dot_bf16x2(a_g8, b_n1) + gptc_dot_bf16x2(a_g8_hi, b_n1_hi);
    }
    for (int i = 0; i < 4; i++) d[i] = acc[i];
#endif
}

// ---- warpgroup products (sm_90a's wgmma) ------------------------------------------
// A warpgroup (4 consecutive warps, 128 threads, the first a multiple of
// 4) computes D (64 x N, fp32) = A (64 x 16, bf16) B (16 x N, bf16) + D
// (PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate").
// D is spread as mma_bf16_16816's C over warps: warp w of the group holds
// rows 16 w .. 16 w + 15, d[i][0..3] its C fragment of columns 8 i ..
// 8 i + 7. A in registers (wgmma_rs_tb) is mma's A fragment of the warp's
// 16 rows. Operands in shared memory are named by descriptors over one
// layout, 128-byte swizzled: a tile of R rows x C bf16 (C a multiple of
// 64) is C / 64 column blocks of R rows x 64 (128 bytes a row), 16-byte
// chunk c of row r of a block at chunk c ^ (r % 8), every block aligned to
// 1024 bytes, so that the hardware's swizzle (address bits 4-6 xor bits
// 7-9) is the layout's. With rows the M or N index and columns K
// ("K-major"), a 16-column k-slice is the descriptor of its first element:
// SBO = 1024 (8 rows), LBO unused. With rows K and columns N ("N-major",
// wgmma_rs_tb's B), a 16-row k-slice starts at its first row: SBO = 1024
// (8 rows of K), LBO = the bytes between column blocks.
// The products run asynchronously: wg_fence() before the first of a batch
// (after registers they read or accumulate were written), wg_commit()
// after the last, wg_wait<0>() before their results are read; their
// operand registers must not change in between, which wg_keep tells the
// compiler. Shared memory written by ordinary stores or cp.async is seen
// by wgmma only after fence_proxy_async() in the writing thread and a
// barrier (on sim, a product that reads what a thread's cp.async wrote
// before that thread's fence fails the launch). The portable twin computes each product, every thread its own
// elements straight from shared memory (A from its warp's registers
// through shuffles), and adds in its own order: at once, or on sim under
// late_async at the wait that covers it.

#if defined(GPTC_WGMMA_PTX)
typedef unsigned long long gptc_wg_desc;
#else
struct gptc_wg_desc {
    const unsigned char *start;
    unsigned lbo, sbo;
};
#endif

// The descriptor of the operand that starts at smem (16-byte aligned, in
// the layout above), with byte offsets lbo and sbo (multiples of 16).
__device__ __forceinline__ gptc_wg_desc wg_desc(const void *smem, unsigned lbo, unsigned sbo) {
#if defined(GPTC_WGMMA_PTX)
    const unsigned long long a = (unsigned long long)__cvta_generic_to_shared(smem);
    return ((a & 0x3ffffull) >> 4) | ((unsigned long long)(lbo >> 4) << 16) |
           ((unsigned long long)(sbo >> 4) << 32) | (1ull << 62);
#else
    return gptc_wg_desc{reinterpret_cast<const unsigned char *>(smem), lbo, sbo};
#endif
}

// smem rounded up to the next 1024-byte boundary of shared memory (a
// kernel asks for 1024 bytes more than its tiles take).
__device__ __forceinline__ unsigned char *wg_align(unsigned char *smem) {
#if defined(GPTC_PRIMS_PTX)
    const unsigned a = (unsigned)__cvta_generic_to_shared(smem);
#else
    const unsigned a = (unsigned)reinterpret_cast<unsigned long long>(smem);
#endif
    return smem + ((1024u - (a & 1023u)) & 1023u);
}

__device__ __forceinline__ void fence_proxy_async() {
#if defined(GPTC_WGMMA_PTX)
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::proxy_fence();
#endif
}
__device__ __forceinline__ void wg_fence() {
#if defined(GPTC_WGMMA_PTX)
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wg_commit() {
#if defined(GPTC_WGMMA_PTX)
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::late_commit();
#endif
}
template <int N>
__device__ __forceinline__ void wg_wait() {
#if defined(GPTC_WGMMA_PTX)
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#elif defined(GPTC_CUDA_EMU_H)
    gptc_emu::late_wait(N);
#endif
}

// Ties registers to the asynchronous products: the compiler may neither
// read them early nor reuse them while the products may still run.
template <int R>
__device__ __forceinline__ void wg_keep(float d[][4]) {
#if defined(GPTC_WGMMA_PTX)
    for (int i = 0; i < R; i++)
        asm volatile("" : "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3])::"memory");
#else
    (void)d;  // the twin's products are done when they return
#endif
}
template <int R>
__device__ __forceinline__ void wg_keep(unsigned a[][4]) {
#if defined(GPTC_WGMMA_PTX)
    for (int i = 0; i < R; i++)
        asm volatile("" : "+r"(a[i][0]), "+r"(a[i][1]), "+r"(a[i][2]), "+r"(a[i][3])::"memory");
#else
    (void)a;  // the twin's products are done when they return
#endif
}

#if !defined(GPTC_WGMMA_PTX)
// Element (r, c) of a descriptor's operand, rows r at 128 bytes (SBO per 8)
// and column blocks of 64 at LBO, through the 128-byte swizzle of the
// element's shared-memory address, as the hardware reads it.
__device__ __forceinline__ float gptc_wg_elem(gptc_wg_desc d, int r, int c) {
    const unsigned long long a = reinterpret_cast<unsigned long long>(d.start) + (unsigned)(c / 64) * d.lbo +
                                 (unsigned)(r / 8) * d.sbo + (unsigned)(r % 8) * 128u + (unsigned)(c % 64) * 2u;
    const unsigned long long s = a ^ (((a >> 7) & 7ull) << 4);
#if defined(GPTC_CUDA_EMU_H)
    gptc_emu::proxy_read(reinterpret_cast<const void *>(s));
#endif
    return __bfloat162float(*reinterpret_cast<const __nv_bfloat16 *>(s));
}

// The twin's row g (0..7, and g + 8) of its warp's 16 rows of A from mma A
// fragments: the four lanes 4 g .. 4 g + 3 hold it.
__device__ __forceinline__ void gptc_wg_rows_a(float row[2][16], const unsigned a[4]) {
    const int g = (int)(gptc_lane() >> 2);
    for (int q = 0; q < 4; q++)
        for (int reg = 0; reg < 4; reg++) {
            const unsigned x = __shfl_sync(GPTC_FULL_MASK, a[reg], 4 * g + q);
            const int r = reg & 1, k = 2 * q + 8 * (reg >> 1);
            row[r][k] = __bfloat162float(__ushort_as_bfloat16((unsigned short)(x & 0xffffu)));
            row[r][k + 1] = __bfloat162float(__ushort_as_bfloat16((unsigned short)(x >> 16)));
        }
}

// d[i][e] (= its column n of its row m) += sum_k a(m, k) b(k, n), or = when
// not accumulate.
template <int N, class A, class B>
__device__ __forceinline__ void gptc_wg_twin(float d[][4], A a, B b, bool accumulate) {
    const int m0 = 16 * (int)((gptc_thread_rank() >> 5) & 3u) + (int)(gptc_lane() >> 2), t = (int)(gptc_lane() & 3u);
    for (int i = 0; i < N / 8; i++)
        for (int e = 0; e < 4; e++) {
            const int m = m0 + 8 * (e >> 1), n = 8 * i + 2 * t + (e & 1);
            float sum = 0.0f;
            for (int k = 0; k < 16; k++) sum += a(m, k) * b(k, n);
            d[i][e] = accumulate ? d[i][e] + sum : sum;
        }
}

// The twins' two products, as functions of their operands, run at once or,
// on sim under late_async, at the wait that covers them (cuda_emu.h): then
// they read the accumulators, the A registers and the tiles as they are at
// that wait, as the hardware may.
template <int N>
struct GptcWgSS {
    float (*d)[4];
    gptc_wg_desc a, b;
    bool accumulate;
    static __device__ void run(const void *ctx) {
        const GptcWgSS &p = *static_cast<const GptcWgSS *>(ctx);
        gptc_wg_twin<N>(
            p.d, [&](int m, int k) { return gptc_wg_elem(p.a, m, k); },
            [&](int k, int n) { return gptc_wg_elem(p.b, n, k); }, p.accumulate);
    }
};
template <int N>
struct GptcWgRS {
    float (*d)[4];
    const unsigned *a;
    gptc_wg_desc b;
    bool accumulate;
    static __device__ void run(const void *ctx) {
        const GptcWgRS &p = *static_cast<const GptcWgRS *>(ctx);
        float rows[2][16];
        gptc_wg_rows_a(rows, p.a);
        gptc_wg_twin<N>(
            p.d, [&](int m, int k) { return rows[(m & 15) >> 3][k]; },
            [&](int k, int n) { return gptc_wg_elem(p.b, k, n); }, p.accumulate);
    }
};
template <class P>
__device__ __forceinline__ void gptc_wg_issue(const P &p) {
#if defined(GPTC_CUDA_EMU_H)
    if (gptc_emu::late_products()) {
        gptc_emu::late_product(&P::run, &p, sizeof p);
        return;
    }
#endif
    P::run(&p);
}
#endif

#define GPTC_WG_R16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}"
#define GPTC_WG_R32                                                                                              \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
    "%23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define GPTC_WG_R64                                                                                              \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
    "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "  \
    "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define GPTC_WG_D4(i) "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3])
#define GPTC_WG_D16 GPTC_WG_D4(0), GPTC_WG_D4(1), GPTC_WG_D4(2), GPTC_WG_D4(3)
#define GPTC_WG_D32 GPTC_WG_D16, GPTC_WG_D4(4), GPTC_WG_D4(5), GPTC_WG_D4(6), GPTC_WG_D4(7)
#define GPTC_WG_D64                                                                                            \
    GPTC_WG_D32, GPTC_WG_D4(8), GPTC_WG_D4(9), GPTC_WG_D4(10), GPTC_WG_D4(11), GPTC_WG_D4(12), GPTC_WG_D4(13), \
        GPTC_WG_D4(14), GPTC_WG_D4(15)

// d (64 x N, d[N / 8][4]) (+)= A B with A (64 x 16) and B^T (N x 16) both
// K-major in shared memory (wgmma's .bf16 SS form, no transposes); N 32,
// 64 or 128.
template <int N>
__device__ __forceinline__ void wgmma_ss(float d[][4], gptc_wg_desc a, gptc_wg_desc b, bool accumulate) {
    static_assert(N == 32 || N == 64 || N == 128, "wgmma_ss: N is 32, 64 or 128");
#if defined(GPTC_WGMMA_PTX)
    const int acc = accumulate ? 1 : 0;
    if constexpr (N == 32)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 " GPTC_WG_R16 ", %16, %17, p, 1, 1, 0, 0;\n}\n"
                     : GPTC_WG_D16
                     : "l"(a), "l"(b), "r"(acc)
                     : "memory");
    else if constexpr (N == 64)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " GPTC_WG_R32 ", %32, %33, p, 1, 1, 0, 0;\n}\n"
                     : GPTC_WG_D32
                     : "l"(a), "l"(b), "r"(acc)
                     : "memory");
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " GPTC_WG_R64 ", %64, %65, p, 1, 1, 0, 0;\n}\n"
                     : GPTC_WG_D64
                     : "l"(a), "l"(b), "r"(acc)
                     : "memory");
#else
    gptc_wg_issue(GptcWgSS<N>{d, a, b, accumulate});
#endif
}

// d (64 x N) (+)= A B with A (64 x 16) in registers (a: mma's A fragment of
// this warp's 16 rows) and B (16 x N) N-major in shared memory (wgmma's
// .bf16 RS form, B transposed); N 64 or 128.
template <int N>
__device__ __forceinline__ void wgmma_rs_tb(float d[][4], const unsigned a[4], gptc_wg_desc b, bool accumulate) {
    static_assert(N == 64 || N == 128, "wgmma_rs_tb: N is 64 or 128");
#if defined(GPTC_WGMMA_PTX)
    const int acc = accumulate ? 1 : 0;
    if constexpr (N == 64)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " GPTC_WG_R32
                     ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                     : GPTC_WG_D32
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc)
                     : "memory");
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " GPTC_WG_R64
                     ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                     : GPTC_WG_D64
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc)
                     : "memory");
#else
    gptc_wg_issue(GptcWgRS<N>{d, a, b, accumulate});
#endif
}

#endif
