/*
 * softcap_ce.cu: the head's softcap and the cross-entropy loss, forward and
 * backward in one kernel, one row (token) per block, over the padded
 * vocabulary; the probabilities are never written.
 *
 * Computes, for row t with raw logits l = logits[t, :] and target y =
 * targets[t], z = softcap(l) with the model's SOFTCAP kind
 *   0 isru      z = CAP * l / sqrt(l * l + CAP * CAP)
 *   1 sigmoid   z = CAP / (1 + exp(-(l + OFFSET) / DIV))
 *   2 none      z = l
 * then M = max z, S = sum exp(z - M) (online: one read of the row) and
 *   row_loss[t]    = log(S) + M - z[y]
 *   dlogits[t, i]  = (p - (i == y)) / count * softcap'(l[i]),
 *                    p = exp(z[i] - M) / S   (a second read of the row)
 *   softcap' isru CAP^3 / (l^2 + CAP^2)^(3/2); sigmoid z (1 - z / CAP) /
 *   DIV; none 1. That is runtime/ref/reduce.h's softcap_fwd,
 *   cross_entropy_fwd's row losses and cross_entropy_bwd, to within a few
 *   ulps (Numerics). The mean loss is the second stage:
 *   templates/colsum.cu over row_loss with scale = 1 / count.
 * Numerics  A handful of cheap instructions per element: the ref code's
 *           IEEE divisions, expf and sqrtf made this kernel compute-bound
 *           (16.4 ms at 65536 tokens x 50304 classes on an H200). With
 *           z = CAP c (none: z = c), c = l r, r = 1 / sqrt(l^2 + CAP^2)
 *           (isru) or c = 1 / (1 + 2^(-(l + OFFSET) log2(e) / DIV))
 *           (sigmoid), it works in base 2 on z log2(e) = c ZS, a product
 *           never rounded on its own (an fma with the exponent's offset):
 *           the max over c, 2^(c ZS - m), log2 of the sum. The backward
 *           pass takes p scale = 2^(c ZS - L), L = M ZS + log2 S - log2
 *           scale, scale = SLOPE_SCALE / count with SLOPE_SCALE the
 *           slope's constant factor (isru CAP^3, the slope being CAP^3 r^3:
 *           no sqrt, and no cancellation as z nears CAP; sigmoid CAP /
 *           DIV, times c (1 - c); none 1), then multiplies by the slope's
 *           variable part; the target's element, (p - 1) scale times it,
 *           is written after the loop. The divisions are one per block and
 *           those of the constants, fp32 expressions of CAP, DIV and
 *           OFFSET that the compiler folds (the same value under NVRTC and
 *           the host compiler). exp2, rsqrt and the reciprocal are
 *           prims.cuh's gptc_ex2, gptc_rsqrt and gptc_rcp: one MUFU
 *           instruction each, within 2 ulp, without the denormal handling
 *           that exp2f, rsqrtf and __fdividef wrap around it (three or
 *           four more instructions each), so a term of S, a p scale or a sigmoid c
 *           below 2^-126 is 0. log2f (1 ulp) runs once per block. The
 *           results are within a few ulps of the ref code's, no longer its
 *           bits: tests/kernels/test_kernels.c (ce_reference) derives each
 *           bound. With a softcap no finite logit gives NaN or inf (isru's
 *           c is 0 where l^2 overflows, sigmoid's where the power does).
 *           Without one, logits beyond about 2^22 in magnitude put the
 *           fp32 exponents off by whole units, as the ref code's are, and
 *           p may then come out above 1.
 * Precision the recipe's (docs/recipe.md, 'Head, softcap and loss'):
 *           logits are the head GEMM's bf16 output, widened to fp32 here
 *           (PyTorch's `.float()`), and everything after is fp32; the
 *           gradient is rounded to bf16 once, at the store, as PyTorch's
 *           backward of `.float()` casts it back to the matmul's bf16.
 * Layouts   logits, dlogits: [rows, VPAD] bf16 row-major; targets: [rows]
 *           int32, each in 0 .. VPAD-1 (classes past the vocabulary are
 *           ordinary classes here); row_loss: [rows] fp32. dlogits may be
 *           logits (in place: the target's logit is read before any
 *           gradient is written), or NULL for the loss alone (validation).
 *           count is the number of tokens the loss is the mean over (rows
 *           for one launch over the whole batch).
 * Launch    THREADS threads per block, one block per row: blocks = rows
 *           (rows_per_block 1); no dynamic shared memory (block_max and
 *           block_sum's 32 floats). Pointers 16-byte aligned, VPAD % VEC
 *           == 0.
 * Determinism  no atomics. Thread i takes the VEC-element vectors i, i +
 *           THREADS, ... of its row in order, keeping a running max m of c
 *           and sum s of 2^(c ZS - m ZS) (rescaled by 2^(m_old ZS - m_new
 *           ZS) when the max grows, once per vector); block_max (exact)
 *           gives M, and block_sum adds the threads' s 2^(m ZS - M ZS) in
 *           a fixed tree. The thread whose vectors hold the target writes
 *           its gradient. The order depends on VPAD, VEC and THREADS only:
 *           bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), VPAD, SOFTCAP, CAP, DIV,
 *           OFFSET, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

namespace ce_{{SUFFIX}} {

constexpr int KIND = {{SOFTCAP}};
constexpr float CAP = {{CAP}}, DIV = {{DIV}}, OFFSET = {{OFFSET}};
constexpr float LOG2E = 1.44269504088896341f, LN2 = 0.693147180559945309f;
/* z log2(e) = c ZS: CAP log2(e), or log2(e) without a softcap. */
constexpr float ZS = KIND == 2 ? LOG2E : CAP * LOG2E;
constexpr float CAP_SQ = CAP * CAP;
/* sigmoid: the exponent -(l + OFFSET) log2(e) / DIV as l NEG_K + NEG_OFF_K. */
constexpr float NEG_K = -LOG2E / DIV, NEG_OFF_K = OFFSET * NEG_K;
/* The slope's constant factor: isru CAP^3 r^3, sigmoid (CAP / DIV) c (1 - c). */
constexpr float SLOPE_SCALE = KIND == 0 ? CAP * CAP * CAP : KIND == 1 ? CAP / DIV : 1.0f;

/* The softcap over its scale, c = z / CAP (z for none), and w, what the
 * slope needs besides c: isru r = 1 / sqrt(l^2 + CAP^2) (c = l r, in [-1,
 * 1]: 0 where l^2 overflows); sigmoid c = 1 / (1 + 2^(l NEG_K +
 * NEG_OFF_K)), 0 where the power overflows. */
__device__ __forceinline__ float unit_softcap(float l, float &w) {
    if (KIND == 0) {
        w = gptc_rsqrt(fmaf(l, l, CAP_SQ));
        return l * w;
    }
    w = 0.0f;
    if (KIND == 1) return gptc_rcp(1.0f + gptc_ex2(fmaf(l, NEG_K, NEG_OFF_K)));
    return l;
}

/* d softcap / d l over SLOPE_SCALE, times x: isru x r^3, sigmoid x c (1 - c). */
__device__ __forceinline__ float times_slope(float x, float c, float w) {
    if (KIND == 0) return x * w * w * w;
    if (KIND == 1) return x * c * (1.0f - c);
    return x;
}

/* The vector's logits as fp32: a bf16 is the top half of its fp32, so a
 * pair in one 32-bit word widens with a shift and a mask. */
__device__ __forceinline__ void widen(const Vec<__nv_bfloat16, {{VEC}}> &v, float *l) {
    if constexpr ({{VEC}} % 2 == 0) {
        const unsigned *u = reinterpret_cast<const unsigned *>(v.v);
        for (int j = 0; j < {{VEC}} / 2; j++) {
            l[2 * j] = __uint_as_float(u[j] << 16);
            l[2 * j + 1] = __uint_as_float(u[j] & 0xffff0000u);
        }
    } else {
        for (int e = 0; e < {{VEC}}; e++) l[e] = __bfloat162float(v.v[e]);
    }
}

}  // namespace ce_{{SUFFIX}}

extern "C" __global__ void __launch_bounds__({{THREADS}})
softcap_ce_{{SUFFIX}}(float *row_loss, __nv_bfloat16 *dlogits, const __nv_bfloat16 *logits,
                      const int *targets, int count, int rows) {
    using namespace ce_{{SUFFIX}};
    constexpr int NVEC = {{VPAD}} / {{VEC}};
    if ((int)blockIdx.x >= rows) return; /* the whole block: no barrier is skipped */
    const long long base = (long long)blockIdx.x * {{VPAD}};
    const int target = targets[blockIdx.x];
    /* The thread whose vectors hold the target: it writes the target's gradient last. */
    const bool owner = (int)threadIdx.x == target / {{VEC}} % {{THREADS}};
    /* Read before the barriers below: in place, the row is overwritten after them. */
    const float lt = threadIdx.x == 0 || owner ? __bfloat162float(logits[base + target]) : 0.0f;
    float m = __uint_as_float(0xff800000u), m2 = m, s = 0.0f; /* -inf, -inf, 0 */
    for (int k = (int)threadIdx.x; k < NVEC; k += {{THREADS}}) {
        float l[{{VEC}}], c[{{VEC}}], unused;
        widen(vec_load<__nv_bfloat16, {{VEC}}>(logits + base + (long long)k * {{VEC}}), l);
        float vm = __uint_as_float(0xff800000u);
        for (int e = 0; e < {{VEC}}; e++) {
            c[e] = unit_softcap(l[e], unused);
            vm = fmaxf(vm, c[e]);
        }
        if (vm > m) {
            const float vm2 = vm * ZS;
            s *= gptc_ex2(m2 - vm2);
            m = vm, m2 = vm2;
        }
        for (int e = 0; e < {{VEC}}; e++) s += gptc_ex2(fmaf(c[e], ZS, -m2));
    }
    const float M2 = block_max(m) * ZS;
    const float S = block_sum(s > 0.0f ? s * gptc_ex2(m2 - M2) : 0.0f);
    const float lg = log2f(S);
    float unused;
    if (threadIdx.x == 0) row_loss[blockIdx.x] = (lg + (M2 - unit_softcap(lt, unused) * ZS)) * LN2;
    if (dlogits == nullptr) return;
    /* p scale = 2^(z log2(e) - L), scale = SLOPE_SCALE / count folded into L. */
    const float scale = SLOPE_SCALE / (float)count;
    const float L = (M2 + lg) - log2f(scale);
    for (int k = (int)threadIdx.x; k < NVEC; k += {{THREADS}}) {
        const long long at = base + (long long)k * {{VEC}};
        float l[{{VEC}}];
        widen(vec_load<__nv_bfloat16, {{VEC}}>(logits + at), l);
        Vec<__nv_bfloat16, {{VEC}}> d;
        for (int e = 0; e < {{VEC}}; e++) {
            float w;
            const float c = unit_softcap(l[e], w);
            d.v[e] = __float2bfloat16(times_slope(gptc_ex2(fmaf(c, ZS, -L)), c, w));
        }
        vec_store<__nv_bfloat16, {{VEC}}>(dlogits + at, d);
    }
    /* The target's (p - 1) scale: after the loop, which wrote p scale there. */
    if (owner) {
        float w;
        const float c = unit_softcap(lt, w);
        dlogits[base + target] = __float2bfloat16(times_slope(gptc_ex2(fmaf(c, ZS, -L)) - scale, c, w));
    }
}
