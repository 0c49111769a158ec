/*
 * muon_momentum.cu: Muon's first step for one parameter tensor of `count`
 * matrices (Q, K, V and O of an attention tensor are four): the momentum
 * update, the Nesterov form rounded to bf16 (the matrix Newton-Schulz
 * starts from), and the first stage of each matrix's Frobenius norm.
 *
 * Computes, for every element i of matrix k (fp32, in this order, as
 * runtime/ref/optim.c's muon_update):
 *   buf[i] = momentum * buf[i] + (1 - momentum) * g[i]
 *   u      = NESTEROV ? momentum * buf[i] + (1 - momentum) * g[i] : buf[i]
 *   x[i]   = bf16(u)                                   (nearest even)
 *   partial[b * count + k] = block b's share of sum over matrix k of x[i]^2
 *   (the bf16 values squared: the norm is the matrix Newton-Schulz sees).
 * The second stage is templates/colsum.cu with in = partial, n = PARTS,
 * cols = count, scale 1, accumulate 0: the sums of squares, one per
 * matrix; templates/muon.cu's muon_normalize then divides by the norm.
 * Layouts   buf, g: fp32, x: bf16, each count matrices of per_matrix
 *           elements back to back (matrix k at k * per_matrix); partial:
 *           [PARTS, count] fp32. buf is updated in place.
 * Launch    exactly PARTS blocks of THREADS threads (a fixed grid, whatever
 *           the size), no dynamic shared memory. Thread i of block b takes
 *           the VEC-element vectors v = b * THREADS + i, v + PARTS *
 *           THREADS, ... of each matrix in turn. Pointers 16-byte aligned,
 *           per_matrix % VEC == 0.
 * Determinism  no atomics. A thread sums each vector's VEC squares in
 *           order and adds that to its running sum in vector order;
 *           block_sum (prims.cuh) joins the threads in a fixed tree and
 *           colsum the blocks in a fixed order: the order depends on PARTS,
 *           THREADS, VEC and per_matrix only, so bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), NESTEROV (0 or 1), PARTS, VEC,
 *           THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
muon_momentum_{{SUFFIX}}(float *buf, __nv_bfloat16 *x, float *partial, const float *g, float momentum,
                         long long per_matrix, int count) {
    const float keep = 1.0f - momentum;
    const long long nvec = per_matrix / {{VEC}};
    for (int k = 0; k < count; k++) {
        const long long base = (long long)k * per_matrix;
        float acc = 0.0f;
        for (long long v = (long long)blockIdx.x * {{THREADS}} + threadIdx.x; v < nvec;
             v += (long long){{PARTS}} * {{THREADS}}) {
            const long long i = base + v * {{VEC}};
            Vec<float, {{VEC}}> b = vec_load<float, {{VEC}}>(buf + i);
            const Vec<float, {{VEC}}> gv = vec_load<float, {{VEC}}>(g + i);
            Vec<__nv_bfloat16, {{VEC}}> out;
            float s = 0.0f;
            for (int e = 0; e < {{VEC}}; e++) {
                b.v[e] = momentum * b.v[e] + keep * gv.v[e];
                const float u = {{NESTEROV}} ? momentum * b.v[e] + keep * gv.v[e] : b.v[e];
                out.v[e] = __float2bfloat16(u);
                const float r = __bfloat162float(out.v[e]);
                s += r * r;
            }
            vec_store<float, {{VEC}}>(buf + i, b);
            vec_store<__nv_bfloat16, {{VEC}}>(x + i, out);
            acc += s;
        }
        acc = block_sum(acc);
        if (threadIdx.x == 0) partial[blockIdx.x * count + k] = acc;
    }
}
