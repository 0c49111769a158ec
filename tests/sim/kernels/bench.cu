// bench.cu: kernels for the sim executor's speed measurements
// (tests/run-sim.sh --bench): a barrier loop, which is nothing but fiber
// switches, and a barrier-free elementwise kernel, which runs as a loop.
#include "prims.cuh"

extern "C" __global__ void barrier_loop(int iters, int *out) {
    int k = 0;
    for (int i = 0; i < iters; i++) {
        __syncthreads();
        k += i;
    }
    if (threadIdx.x == 0) out[blockIdx.x] = k;
}

extern "C" __global__ void axpy(float a, const float *__restrict__ x, float *__restrict__ y, int n) {
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) y[i] = a * x[i] + y[i];
}
