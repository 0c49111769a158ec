// reduce.cu: test kernels for the reductions in templates/prims.cuh: one
// block per row of a matrix, each thread folding a strided slice, then
// block_sum / block_max (shuffles + __syncthreads). Compiled by g++ for sim
// and by NVRTC (tests/sim/nvrtc_check.cc).
#include "prims.cuh"

// out[r] = x[r][0] + ... + x[r][cols - 1]; gridDim.x rows.
extern "C" __global__ void __launch_bounds__(1024) row_sum(const float *__restrict__ x, float *__restrict__ out,
                                                          int cols) {
    const float *row = x + (long long)blockIdx.x * cols;
    float v = 0.0f;
    for (int i = (int)threadIdx.x; i < cols; i += (int)blockDim.x) v += row[i];
    v = block_sum(v);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}

// out[r] = the largest of x[r][0..cols); every thread checks that the block
// agrees, since block_max gives each thread the result.
extern "C" __global__ void row_max(const float *__restrict__ x, float *__restrict__ out, int *__restrict__ disagree,
                                   int cols) {
    const float *row = x + (long long)blockIdx.x * cols;
    float v = __uint_as_float(0xff800000u);
    for (int i = (int)threadIdx.x; i < cols; i += (int)blockDim.x) v = fmaxf(v, row[i]);
    v = block_max(v);
    const float first = block_max(v);  // a second call right after the first
    if (first != v) gptc_atomic_add(disagree, 1);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}
