// transpose.cu: a test kernel for dynamic shared memory: out = in^T for a
// rows x cols float matrix, through a 32 x 33 tile (the extra column keeps
// the GPU's column reads free of bank conflicts) in GPTC_DYN_SMEM. Blocks of
// 32 x 8 threads, one 32 x 32 tile each; edges of any size.
#include "prims.cuh"

#define TILE 32

extern "C" __global__ void transpose(const float *__restrict__ in, float *__restrict__ out, int rows, int cols) {
    GPTC_DYN_SMEM(float, tile);
    const int c0 = (int)(blockIdx.x * TILE), r0 = (int)(blockIdx.y * TILE), tx = (int)threadIdx.x;
    for (int j = (int)threadIdx.y; j < TILE; j += (int)blockDim.y)
        if (r0 + j < rows && c0 + tx < cols) tile[j * (TILE + 1) + tx] = in[(long long)(r0 + j) * cols + c0 + tx];
    __syncthreads();
    for (int j = (int)threadIdx.y; j < TILE; j += (int)blockDim.y)
        if (c0 + j < cols && r0 + tx < rows) out[(long long)(c0 + j) * rows + r0 + tx] = tile[tx * (TILE + 1) + j];
}
