/*
 * rotary.h: the ref executor's rotary embedding -- its cos/sin tables and
 * the rotation of q and k, forward and transposed -- as named functions, so
 * that model.c, the runtime's tables (ref_rotary_tables) and the kernel
 * tests of templates/qkv.cu use the very same code. Built in `real`
 * (real.h).
 */
#ifndef GPTC_REF_ROTARY_H
#define GPTC_REF_ROTARY_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/ref/real.h"

/* cos and sin [T, half] of the recipe's half-truncated rotary: `pairs`
 * frequencies from 1 down to 1/base (both included), then zeros. Angles are
 * formed in float32 as the recipe does; at long sequences that differs from
 * float64 by up to ~0.016 rad (docs/recipe.md, 'Rotary'), and matching the
 * records matters more. */
static inline void rotary_tables(real *cosb, real *sinb, int T, int half, int pairs, double base) {
    for (int j = 0; j < half; j++) {
        float freq = 0.0f;
        if (j < pairs) {
            /* The exponent as torch.linspace(0, 1, pairs) computes it in
             * float32 (from both ends), so the table matches the records'
             * to the last bit where j / (pairs - 1) would round differently. */
            float e = 0.0f;
            if (pairs > 1) {
                float step = 1.0f / (float)(pairs - 1);
                e = j < pairs / 2 ? step * (float)j : 1.0f - step * (float)(pairs - 1 - j);
            }
            freq = powf((float)(1.0 / base), e);
        }
        for (int t = 0; t < T; t++) {
            float angle = (float)t * freq;
            cosb[(size_t)t * half + j] = (real)cosf(angle);
            sinb[(size_t)t * half + j] = (real)sinf(angle);
        }
    }
}

/* Rotates every head of x [T, heads*hd] in place: y1 = x1 c + x2 s,
 * y2 = -x1 s + x2 c (the recipe's sign). `inverse` applies the transpose,
 * which is the backward of this linear map. half: pair (j, j + hd/2);
 * interleaved: pair (2j, 2j + 1). */
static inline void rotary_apply(real *x, const real *cosb, const real *sinb, int T, int heads, int hd,
                         bool interleaved, bool inverse) {
    int half = hd / 2;
    real sign = inverse ? -1 : 1;
#pragma omp parallel for
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < heads; h++) {
            real *v = x + (size_t)t * heads * hd + (size_t)h * hd;
            for (int j = 0; j < half; j++) {
                real c = cosb[(size_t)t * half + j], s = sign * sinb[(size_t)t * half + j];
                real *a = interleaved ? &v[2 * j] : &v[j];
                real *b = interleaved ? &v[2 * j + 1] : &v[j + half];
                real x1 = *a, x2 = *b;
                *a = x1 * c + x2 * s;
                *b = -x1 * s + x2 * c;
            }
        }
    }
}

#endif
