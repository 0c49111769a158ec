/*
 * bf16.h: bf16 <-> fp32 on the host, rounding as the GPU's conversions do:
 * to nearest, ties to even; every NaN becomes the canonical 0x7FFF. The
 * device executors use them for their host copies (the head's bf16 copy,
 * sim's GEMM operands), so that the host and the kernels agree bit for bit.
 */
#ifndef GPTC_BF16_H
#define GPTC_BF16_H

#include <stdint.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#endif
