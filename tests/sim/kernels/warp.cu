// warp.cu: a test kernel for every warp collective of the CUDA subset:
// __shfl_sync / _up / _down / _xor with widths below 32 and with float,
// int and unsigned values, __ballot_sync, __any_sync, __all_sync and
// __syncwarp. Thread g of the grid writes result k to out[k * n + g], where
// n is the number of threads in the grid; tests/sim/test_sim.cc computes the
// same table from the PTX ISA's definition of shfl.sync.
#include "prims.cuh"

#define WARP_OPS 16

extern "C" __global__ void warp_ops(const int *__restrict__ x, int *__restrict__ out) {
    const unsigned n = gridDim.x * blockDim.x, g = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x & 31u;
    const int v = x[g];
    int r[WARP_OPS];
    r[0] = __shfl_sync(GPTC_FULL_MASK, v, (int)((lane * 7u + 3u) & 31u));
    r[1] = __shfl_sync(GPTC_FULL_MASK, v, (int)lane + 1, 8);
    r[2] = __shfl_up_sync(GPTC_FULL_MASK, v, 3);
    r[3] = __shfl_up_sync(GPTC_FULL_MASK, v, 1, 4);
    r[4] = __shfl_down_sync(GPTC_FULL_MASK, v, 5);
    r[5] = __shfl_down_sync(GPTC_FULL_MASK, v, 2, 16);
    r[6] = __shfl_xor_sync(GPTC_FULL_MASK, v, 1);
    r[7] = __shfl_xor_sync(GPTC_FULL_MASK, v, 16);
    r[8] = __shfl_xor_sync(GPTC_FULL_MASK, v, 4, 4);
    r[9] = (int)__shfl_xor_sync(GPTC_FULL_MASK, (float)v, 2);
    r[10] = (int)__shfl_sync(GPTC_FULL_MASK, (unsigned)v, 31);
    r[11] = (int)__ballot_sync(GPTC_FULL_MASK, v & 1);
    r[12] = __any_sync(GPTC_FULL_MASK, v == 7);
    r[13] = __all_sync(GPTC_FULL_MASK, v >= 0);
    r[14] = __all_sync(GPTC_FULL_MASK, v != 7);
    __syncwarp();
    r[15] = __shfl_down_sync(GPTC_FULL_MASK, v, 33);  // the lane argument's low 5 bits: 1
    for (int k = 0; k < WARP_OPS; k++) out[k * n + g] = r[k];
}
