/*
 * vec.cuh: aligned short vectors for the elementwise templates.
 *
 * Vec<T, N> is N values of T aligned to their total size, so that loading or
 * storing one is a single memory instruction (ld.global.v4.u32 for 8 bf16 or
 * 4 fp32; checked in the PTX). The caller guarantees the alignment: the plan
 * (kernels.h, GPTC_KERNELS_ALIGN_BYTES) starts every buffer on a 16-byte boundary,
 * and the emitter picks N so that every row, table and tensor offset the
 * kernel forms is a multiple of N elements.
 *
 * The bf16 type and its conversions (__nv_bfloat16, __float2bfloat16 with
 * round-to-nearest-even, __bfloat162float) come from prims.cuh, every
 * template's prelude: cuda_bf16.h under a CUDA compiler, the emulation
 * header runtime/device/sim/cuda_emu.h under the host compiler.
 */
#pragma once
#include "prims.cuh"

template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
    T v[N];
};

template <typename T, int N>
__device__ inline Vec<T, N> vec_load(const T *p) {
    return *reinterpret_cast<const Vec<T, N> *>(p);
}

template <typename T, int N>
__device__ inline void vec_store(T *p, const Vec<T, N> &x) {
    *reinterpret_cast<Vec<T, N> *>(p) = x;
}
