/*
 * embed.cu: the embedding tables, forward (gather, with the RMS norm of the
 * input tables) and backward (the rows' gradients summed into the table's).
 *
 * Computes
 *   forward   x = table[ids[t], :] (fp32)
 *             norm:  ss = sum_i x[i]^2, rstd[t] = 1 / sqrtf(ss / WIDTH + eps),
 *                    y[t, i] = x[i] * rstd[t]              (input tables)
 *             !norm: y[t, i] = x[i], rstd untouched        (value embeddings)
 *             with eps = 2^-23, as runtime/ref/reduce.h's rmsnorm_fwd after
 *             the ref executor's gather (runtime/ref/elementwise.h,
 *             embed_gather); the sum is fp32 here (double there).
 *   backward  for each segment s = 0 .. rows-1 (rows = the number of
 *             segments, runtime/data/token_segments.h):
 *               dtable[seg_token[s], :] += drows[order[i], :]
 *                 for i = seg_start[s], seg_start[s] + 1, ..., seg_start[s+1] - 1
 *             one fp32 addition per row, in that order: the ref executor's
 *             embed_scatter_add (token by token in position order), exactly.
 * Layouts   table, dtable: [vocab, WIDTH] fp32; y, drows: [T, WIDTH] bf16;
 *           rstd: [T] fp32; ids: [T]; order: [T]; seg_start: [rows + 1];
 *           seg_token: [rows], distinct ids (each table row has one owner).
 * Dtypes    fp32 tables and math; y rounded once to bf16 (nearest even).
 * Threads   TPR consecutive threads (a power of two) own one row (forward:
 *           token t; backward: segment s), THREADS / TPR rows per block;
 *           TPR > 32 is the whole block. Thread j takes the row's VEC-float
 *           vectors j, j + TPR, ... (CHUNKS at most) and keeps them in
 *           registers. Backward: each thread adds its vectors of the
 *           segment's rows one row after another.
 * Launch    THREADS threads per block, blocks = ceil(rows / (THREADS / TPR)),
 *           no dynamic shared memory (block_sum's 32 floats when TPR > 32).
 *           Pointers 16-byte aligned, WIDTH % VEC == 0. Rows past `rows`
 *           take part in the reductions with nothing to add.
 * Determinism  forward: each thread sums its elements in index order, then
 *           group_sum<TPR>; backward: one thread per element in segment
 *           order. No atomics: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), WIDTH, TPR, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
embed_fwd_{{SUFFIX}}(__nv_bfloat16 *y, float *rstd, const float *table, const int *ids, int norm, int rows) {
    constexpr int NVEC = {{WIDTH}} / {{VEC}}, TPR = {{TPR}}, CHUNKS = (NVEC + TPR - 1) / TPR;
    static_assert({{WIDTH}} % {{VEC}} == 0, "embed: VEC must divide WIDTH");
    const int row = (int)(blockIdx.x * ({{THREADS}} / TPR) + threadIdx.x / TPR);
    const int j = (int)(threadIdx.x % TPR);
    const bool live = row < rows;
    const float *x = table + (live ? (long long)ids[row] * {{WIDTH}} : 0);
    Vec<float, {{VEC}}> v[CHUNKS] = {};
    float ss = 0.0f;
    for (int c = 0; c < CHUNKS; c++) {
        const int k = c * TPR + j;
        if (!live || k >= NVEC) continue;
        v[c] = vec_load<float, {{VEC}}>(x + k * {{VEC}});
        for (int e = 0; e < {{VEC}}; e++) ss += v[c].v[e] * v[c].v[e];
    }
    float r = 1.0f;
    if (norm) {  // uniform: a kernel argument
        ss = group_sum<TPR>(ss);
        r = 1.0f / sqrtf(ss / (float){{WIDTH}} + 1.1920928955078125e-07f);
    }
    if (!live) return;
    if (norm && j == 0) rstd[row] = r;
    for (int c = 0; c < CHUNKS; c++) {
        const int k = c * TPR + j;
        if (k >= NVEC) continue;
        Vec<__nv_bfloat16, {{VEC}}> out;
        for (int e = 0; e < {{VEC}}; e++) out.v[e] = __float2bfloat16(norm ? v[c].v[e] * r : v[c].v[e]);
        vec_store<__nv_bfloat16, {{VEC}}>(y + (long long)row * {{WIDTH}} + k * {{VEC}}, out);
    }
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
embed_bwd_{{SUFFIX}}(float *dtable, const __nv_bfloat16 *drows, const int *order, const int *seg_start,
                     const int *seg_token, int rows) {
    constexpr int NVEC = {{WIDTH}} / {{VEC}}, TPR = {{TPR}}, CHUNKS = (NVEC + TPR - 1) / TPR;
    const int seg = (int)(blockIdx.x * ({{THREADS}} / TPR) + threadIdx.x / TPR);
    const int j = (int)(threadIdx.x % TPR);
    if (seg >= rows) return;
    float *d = dtable + (long long)seg_token[seg] * {{WIDTH}};
    Vec<float, {{VEC}}> acc[CHUNKS] = {};
    for (int c = 0; c < CHUNKS; c++)
        if (c * TPR + j < NVEC) acc[c] = vec_load<float, {{VEC}}>(d + (c * TPR + j) * {{VEC}});
    const int end = seg_start[seg + 1];
    for (int i = seg_start[seg]; i < end; i++) {
        const __nv_bfloat16 *g = drows + (long long)order[i] * {{WIDTH}};
        for (int c = 0; c < CHUNKS; c++) {
            const int k = c * TPR + j;
            if (k >= NVEC) continue;
            const Vec<__nv_bfloat16, {{VEC}}> gk = vec_load<__nv_bfloat16, {{VEC}}>(g + k * {{VEC}});
            for (int e = 0; e < {{VEC}}; e++) acc[c].v[e] += __bfloat162float(gk.v[e]);
        }
    }
    for (int c = 0; c < CHUNKS; c++)
        if (c * TPR + j < NVEC) vec_store<float, {{VEC}}>(d + (c * TPR + j) * {{VEC}}, acc[c]);
}
