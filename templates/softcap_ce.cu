/*
 * softcap_ce.cu: the head's softcap and the cross-entropy loss, forward and
 * backward in one kernel, one row (token) per block, over the padded
 * vocabulary; the probabilities are never written.
 *
 * Computes, for row t with raw logits l = logits[t, :] and target y =
 * targets[t], z = softcap(l) with the model's SOFTCAP kind
 *   0 isru      z = CAP * l / sqrtf(l * l + CAP * CAP)
 *   1 sigmoid   z = CAP / (1 + expf(-(l + OFFSET) / DIV))
 *   2 none      z = l
 * then M = max z, S = sum exp(z - M) (online: one read of the row) and
 *   row_loss[t]    = logf(S) + M - z[y]
 *   dlogits[t, i]  = (p - (i == y)) / count * softcap'(z[i]),
 *                    p = expf(z[i] - M) / S   (a second read of the row)
 *   softcap' from the output, as the ref code writes it: isru u sqrtf(u)
 *   with u = max(0, 1 - (z / CAP)^2); sigmoid z (1 - z / CAP) / DIV; none 1.
 *   That is runtime/ref/reduce.h's softcap_fwd, cross_entropy_fwd's row
 *   losses and cross_entropy_bwd, in the same order after the sums (which
 *   are fp32 here, double there). The mean loss is the second stage:
 *   templates/colsum.cu over row_loss with scale = 1 / count.
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
 *           THREADS, ... of its row in order, keeping a running max m and
 *           sum s of exp(z - m) (rescaled by exp(m_old - m_new) when the
 *           max grows, once per vector); block_max (exact) gives M, and
 *           block_sum adds the threads' s * exp(m - M) in a fixed tree. The
 *           order depends on VPAD, VEC and THREADS only: bitwise
 *           reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), VPAD, SOFTCAP, CAP, DIV,
 *           OFFSET, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

__device__ __forceinline__ float softcap_{{SUFFIX}}(float l) {
    if ({{SOFTCAP}} == 0) return {{CAP}} * l / sqrtf(l * l + {{CAP}} * {{CAP}});
    if ({{SOFTCAP}} == 1) return {{CAP}} / (1.0f + expf(-(l + {{OFFSET}}) / {{DIV}}));
    return l;
}

/* d softcap / d l, in terms of the output z. A saturated isru logit
 * rounds to z = CAP or just past it: u is clamped at 0, not a NaN. */
__device__ __forceinline__ float softcap_slope_{{SUFFIX}}(float z) {
    if ({{SOFTCAP}} == 2) return 1.0f;
    if ({{SOFTCAP}} == 1) return z * (1.0f - z / {{CAP}}) / {{DIV}};
    float u = 1.0f - (z / {{CAP}}) * (z / {{CAP}});
    u = u > 0.0f ? u : 0.0f;
    return u * sqrtf(u);
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
softcap_ce_{{SUFFIX}}(float *row_loss, __nv_bfloat16 *dlogits, const __nv_bfloat16 *logits,
                      const int *targets, int count, int rows) {
    constexpr int NVEC = {{VPAD}} / {{VEC}};
    if ((int)blockIdx.x >= rows) return; /* the whole block: no barrier is skipped */
    const long long base = (long long)blockIdx.x * {{VPAD}};
    const int target = targets[blockIdx.x];
    /* Read before the barriers below: in place, the row is overwritten after them. */
    const float zt = threadIdx.x == 0 ? softcap_{{SUFFIX}}(__bfloat162float(logits[base + target])) : 0.0f;
    float m = __uint_as_float(0xff800000u), s = 0.0f; /* -inf, 0 */
    for (int k = (int)threadIdx.x; k < NVEC; k += {{THREADS}}) {
        const Vec<__nv_bfloat16, {{VEC}}> l = vec_load<__nv_bfloat16, {{VEC}}>(logits + base + (long long)k * {{VEC}});
        float z[{{VEC}}];
        float vm = __uint_as_float(0xff800000u);
        for (int e = 0; e < {{VEC}}; e++) {
            z[e] = softcap_{{SUFFIX}}(__bfloat162float(l.v[e]));
            vm = fmaxf(vm, z[e]);
        }
        if (vm > m) {
            s *= expf(m - vm);
            m = vm;
        }
        for (int e = 0; e < {{VEC}}; e++) s += expf(z[e] - m);
    }
    const float M = block_max(m);
    const float S = block_sum(s > 0.0f ? s * expf(m - M) : 0.0f);
    if (threadIdx.x == 0) row_loss[blockIdx.x] = logf(S) + M - zt;
    if (dlogits == nullptr) return;
    for (int k = (int)threadIdx.x; k < NVEC; k += {{THREADS}}) {
        const long long at = base + (long long)k * {{VEC}};
        const Vec<__nv_bfloat16, {{VEC}}> l = vec_load<__nv_bfloat16, {{VEC}}>(logits + at);
        Vec<__nv_bfloat16, {{VEC}}> d;
        for (int e = 0; e < {{VEC}}; e++) {
            const float z = softcap_{{SUFFIX}}(__bfloat162float(l.v[e]));
            const float p = expf(z - M) / S;
            const float g = (p - (k * {{VEC}} + e == target ? 1.0f : 0.0f)) / (float)count;
            d.v[e] = __float2bfloat16(g * softcap_slope_{{SUFFIX}}(z));
        }
        vec_store<__nv_bfloat16, {{VEC}}>(dlogits + at, d);
    }
}
