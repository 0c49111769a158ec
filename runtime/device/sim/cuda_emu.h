// cuda_emu.h: lets a kernel written in gptc's CUDA subset (docs/design.md,
// 'Kernel templates') compile with the system C++ compiler (C++17) and run
// on the CPU, for the `sim` executor. It is the host-compiler half of "one
// kernel source, two compilers": templates/prims.cuh includes it when no
// CUDA compiler is compiling, and <cuda_bf16.h> otherwise, so every
// spelling here is CUDA's.
//
// What it provides: the CUDA keywords (__global__, __device__,
// __forceinline__, __launch_bounds__, __shared__, __align__), dim3 and the
// vector types, threadIdx/blockIdx/blockDim/gridDim/warpSize, barriers and
// warp collectives (full masks only), the dynamic shared memory macro
// GPTC_DYN_SMEM, atomics through gptc_atomic_* wrappers, a whitelist of math
// intrinsics, and __nv_bfloat16/__nv_bfloat162 with cuda_bf16.h's
// conversion functions (round to nearest even, NaN to the canonical NaN).
// The scheduler behind the barriers lives in cuda_emu.cc: the threads of a
// block are fibers, blocks run one after another, and a barrier or
// collective that not every thread reaches fails the launch with the
// kernel's name and the source line.
//
// A kernel NAME becomes callable from C (runtime/device/sim/sim.h) by writing
// GPTC_SIM_KERNEL(NAME) after its definition, in a C++ file that includes
// the kernel source; that file must be compiled with -fno-strict-aliasing,
// as CUDA code reinterprets pointers freely (float* as float4*, ...).
#ifndef GPTC_CUDA_EMU_H
#define GPTC_CUDA_EMU_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "cuda_emu.h is for the host compiler; CUDA compilers use cuda_bf16.h"
#endif

#include <math.h>
#include <stdint.h>

#include <type_traits>
#include <utility>

#include "sim.h"

// ---- keywords --------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Static shared memory: one copy per process, in a section of its own so
// that the launcher can find all of it (__start_/__stop_gptc_smem) and
// poison it at each block start. Correct while one block runs at a time,
// which the launcher guarantees. Write `__shared__ T name[N];` at function
// scope, without `static` (it is implied) or `extern` (GPTC_DYN_SMEM is the
// only dynamic shared memory).
#define __shared__ __attribute__((section("gptc_smem"), aligned(16))) static

// ---- vector types ----------------------------------------------------------

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(8) int2 { int x, y; };
struct __align__(16) int4 { int x, y, z, w; };
struct __align__(8) uint2 { unsigned x, y; };
struct __align__(16) uint4 { unsigned x, y, z, w; };

inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- the emulator's interface (cuda_emu.cc) ---------------------------------

namespace gptc_emu {

// What the running emulated thread sees; the scheduler rewrites `thread`
// each time it resumes a thread. Kernels reach it only through the macros
// below, which give const references so that threadIdx.x = 1 cannot compile.
struct Current {
    uint3 thread, block;
    dim3 block_dim, grid_dim;
    unsigned char *dyn_smem;
};
extern Current g_cur;

// Where a barrier or collective is in the kernel source, for the checks
// that every thread waits at the same one and for the error messages.
struct Site {
    const char *op, *file;
    int line;
};

enum ShflKind { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR };
enum VoteKind { VOTE_BALLOT, VOTE_ANY, VOTE_ALL };

void barrier(Site s);
void syncwarp(Site s, unsigned mask);
// cp.async (prims.cuh's cp_async_*): a copy of `bytes` (zeros where not
// valid) that lands at once, or with GptcSimOptions.late_async when the
// issuing thread waits for its group; commit closes the thread's group;
// wait lands every group but the newest `pending`.
void async_copy(void *dst, const void *src, unsigned bytes, bool valid);
void async_commit();
void async_wait(unsigned pending);
// The async proxy (prims.cuh's fence_proxy_async and the wgmma twins'
// reads): dynamic shared memory a thread's cp.async wrote is marked until
// that thread calls proxy_fence; a product that reads a marked byte
// (proxy_read) fails the launch, as wgmma may not see it on a GPU.
void proxy_fence();
void proxy_read(const void *p);
// Warpgroup products (prims.cuh's wgmma twins) under late_async: each is
// queued as run(ctx) with a copy of its ctx (at most LATE_CTX bytes) and
// runs at the wait that covers its commit group, in the order issued, so
// that an accumulator read before that wait, or an operand register or tile
// changed before it, gives another result. A thread that ends with products
// never waited for fails the launch. Without late_async, late_products() is
// false and the twins compute at once.
constexpr unsigned LATE_CTX = 64;
bool late_products();
void late_product(void (*run)(const void *ctx), const void *ctx, unsigned bytes);
void late_commit();
void late_wait(unsigned pending);
uint32_t shfl(Site s, unsigned mask, uint32_t value, ShflKind kind, int arg, int width);
unsigned vote(Site s, unsigned mask, int pred, VoteKind kind);

// Runs body(ctx) once per thread of every block of the launch. The smem
// bounds are those of the caller's module (see GPTC_SIM_KERNEL).
int launch(const char *kernel, const GptcSimLaunch *l, void (*body)(void *), void *ctx,
           unsigned char *smem_begin, unsigned char *smem_end);

}  // namespace gptc_emu

#define threadIdx (static_cast<const uint3 &>(::gptc_emu::g_cur.thread))
#define blockIdx (static_cast<const uint3 &>(::gptc_emu::g_cur.block))
#define blockDim (static_cast<const dim3 &>(::gptc_emu::g_cur.block_dim))
#define gridDim (static_cast<const dim3 &>(::gptc_emu::g_cur.grid_dim))
static constexpr int warpSize = 32;

// Dynamic shared memory, sized by GptcSimLaunch.smem_bytes; the same macro
// in prims.cuh's CUDA branch declares the extern __shared__ array.
#define GPTC_DYN_SMEM(T, name) T *name = reinterpret_cast<T *>(::gptc_emu::g_cur.dyn_smem)

// ---- barriers and warp collectives -----------------------------------------
// The defaulted file/line arguments are filled in at the caller's site
// (a GCC/Clang builtin), so messages point at the kernel's own line.

inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    gptc_emu::barrier({"__syncthreads", file, line});
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
    gptc_emu::syncwarp({"__syncwarp", file, line}, mask);
}
// Memory is sequentially consistent here: fences have nothing to do.
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace gptc_emu {
// Shuffles move 32-bit values (float, int, unsigned, __nv_bfloat162).
template <class T>
inline T shfl_as(Site s, unsigned mask, T v, ShflKind kind, int arg, int width) {
    static_assert(sizeof(T) == 4 && std::is_trivially_copyable<T>::value,
                  "sim: shuffles move 4-byte values");
    return __builtin_bit_cast(T, shfl(s, mask, __builtin_bit_cast(uint32_t, v), kind, arg, width));
}
}  // namespace gptc_emu

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = warpSize,
                     const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return gptc_emu::shfl_as({"__shfl_sync", file, line}, mask, v, gptc_emu::SHFL_IDX, src_lane, width);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize,
                        const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return gptc_emu::shfl_as({"__shfl_up_sync", file, line}, mask, v, gptc_emu::SHFL_UP, (int)delta, width);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize,
                          const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return gptc_emu::shfl_as({"__shfl_down_sync", file, line}, mask, v, gptc_emu::SHFL_DOWN, (int)delta,
                             width);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize,
                         const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return gptc_emu::shfl_as({"__shfl_xor_sync", file, line}, mask, v, gptc_emu::SHFL_XOR, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
    return gptc_emu::vote({"__ballot_sync", file, line}, mask, pred, gptc_emu::VOTE_BALLOT);
}
inline int __any_sync(unsigned mask, int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)gptc_emu::vote({"__any_sync", file, line}, mask, pred, gptc_emu::VOTE_ANY);
}
inline int __all_sync(unsigned mask, int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)gptc_emu::vote({"__all_sync", file, line}, mask, pred, gptc_emu::VOTE_ALL);
}

// ---- atomics ---------------------------------------------------------------
// Kernels use these wrappers, never atomicAdd: prims.cuh maps them to CUDA's
// atomics. Here a plain read-modify-write is atomic, since a fiber is never
// preempted and launches do not overlap. Each returns the old value.

inline float gptc_atomic_add(float *p, float v) {
    float old = *p;
    *p = old + v;
    return old;
}
inline int gptc_atomic_add(int *p, int v) {
    int old = *p;
    *p = (int)((unsigned)old + (unsigned)v);  // wraps like the GPU's
    return old;
}
inline unsigned gptc_atomic_add(unsigned *p, unsigned v) {
    unsigned old = *p;
    *p = old + v;
    return old;
}
inline int gptc_atomic_max(int *p, int v) {
    int old = *p;
    *p = old > v ? old : v;
    return old;
}
inline unsigned gptc_atomic_max(unsigned *p, unsigned v) {
    unsigned old = *p;
    *p = old > v ? old : v;
    return old;
}

// ---- math whitelist ---------------------------------------------------------
// The C float functions (expf, logf, sqrtf, tanhf, fmaxf, fminf, fabsf,
// exp2f, sinf, cosf, fmaf, floorf, ...) come from <math.h> and exist in
// CUDA under the same names. Below: CUDA's intrinsics, computed exactly
// (the GPU's fast versions are approximations; compare with tolerances).

inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
// NaN saturates to 0, as on the GPU.
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }
inline int __float_as_int(float x) { return __builtin_bit_cast(int, x); }
inline float __int_as_float(int x) { return __builtin_bit_cast(float, x); }
inline unsigned __float_as_uint(float x) { return __builtin_bit_cast(unsigned, x); }
inline float __uint_as_float(unsigned x) { return __builtin_bit_cast(float, x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
template <class T>
inline T __ldg(const T *p) {
    return *p;
}

// ---- bf16 -------------------------------------------------------------------
// Storage types with cuda_bf16.h's layout. As in CUDA the bits are not a
// public member; unlike CUDA there are no implicit conversions or
// arithmetic operators, so kernels round explicitly, with the functions below.

struct __align__(2) __nv_bfloat16 {
    __nv_bfloat16() = default;

protected:
    unsigned short __x;
};
struct __align__(4) __nv_bfloat162 {
    __nv_bfloat16 x, y;
};

inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return __builtin_bit_cast(unsigned short, h); }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __builtin_bit_cast(__nv_bfloat16, u); }

// Round to nearest, ties to even. Every NaN becomes the canonical 0x7FFF, as
// cvt.rn.bf16.f32 and cuda_bf16.hpp's host path do; adding the rounding bias
// to a NaN could carry it into infinity.
inline __nv_bfloat16 __float2bfloat16(float f) {
    uint32_t u = __builtin_bit_cast(uint32_t, f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(0x7fff);
    u += 0x7fffu + ((u >> 16) & 1u);
    return __ushort_as_bfloat16((unsigned short)(u >> 16));
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
// Round toward zero: truncation, except that a NaN whose payload sits only in
// the low 16 bits would truncate to infinity.
inline __nv_bfloat16 __float2bfloat16_rz(float f) {
    uint32_t u = __builtin_bit_cast(uint32_t, f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(0x7fff);
    return __ushort_as_bfloat16((unsigned short)(u >> 16));
}
inline float __bfloat162float(__nv_bfloat16 h) {
    return __builtin_bit_cast(float, (uint32_t)__bfloat16_as_ushort(h) << 16);
}
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 lo, __nv_bfloat16 hi) { return {lo, hi}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
    return {__float2bfloat16(lo), __float2bfloat16(hi)};
}
inline __nv_bfloat162 __float22bfloat162_rn(float2 f) { return __floats2bfloat162_rn(f.x, f.y); }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {__bfloat162float(h.x), __bfloat162float(h.y)}; }
inline float __low2float(__nv_bfloat162 h) { return __bfloat162float(h.x); }
inline float __high2float(__nv_bfloat162 h) { return __bfloat162float(h.y); }
inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 h) { return h.x; }
inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 h) { return h.y; }

// ---- launching --------------------------------------------------------------

// This module's static shared memory. Weak, so that a module without any
// __shared__ variable links (both are then null); hidden, so that a kernel
// in a shared object poisons its own section, not the executable's.
extern "C" unsigned char __start_gptc_smem[] __attribute__((weak, visibility("hidden")));
extern "C" unsigned char __stop_gptc_smem[] __attribute__((weak, visibility("hidden")));

// Runs `body` (any callable taking no arguments) as every thread of every
// block of the launch. Returns GPTC_SIM_OK or an error code, the message in
// gptc_sim_last_error().
template <class F>
int emu_launch(const char *kernel, const GptcSimLaunch *l, F &&body) {
    using Fn = std::remove_reference_t<F>;
    void *ctx = const_cast<void *>(static_cast<const void *>(&body));
    return gptc_emu::launch(
        kernel, l, [](void *c) { (*static_cast<Fn *>(c))(); }, ctx, __start_gptc_smem, __stop_gptc_smem);
}

namespace gptc_emu {
// Unpacks cuLaunchKernel-style args: args[i] points at parameter i's value.
template <class... A, size_t... I>
int launch_args(const char *kernel, const GptcSimLaunch *l, void (*k)(A...), void **args, std::index_sequence<I...>) {
    return emu_launch(kernel, l, [k, args] { k(*static_cast<A *>(args[I])...); });
}
template <class... A>
int launch_kernel(const char *kernel, const GptcSimLaunch *l, void (*k)(A...), void **args) {
    return launch_args(kernel, l, k, args, std::index_sequence_for<A...>{});
}
}  // namespace gptc_emu

// Defines extern "C" int gptc_sim_NAME(const GptcSimLaunch *, void **).
#define GPTC_SIM_KERNEL(name)                                             \
    extern "C" int gptc_sim_##name(const GptcSimLaunch *l, void **args) { \
        return ::gptc_emu::launch_kernel(#name, l, name, args);           \
    }

#endif
