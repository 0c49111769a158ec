// histogram.cu: a test kernel for the atomic wrappers, on shared and global
// memory: bins[v % nbins] counts the values of x, through a per-block
// histogram in static shared memory; *sum adds them up in float (exact for
// small integers, so the order of the additions does not matter) and *maxv
// keeps the largest.
#include "prims.cuh"

#define MAX_BINS 256

extern "C" __global__ void histogram(const int *__restrict__ x, int n, int *__restrict__ bins, int nbins,
                                     float *__restrict__ sum, int *__restrict__ maxv) {
    __shared__ int local[MAX_BINS];
    for (int b = (int)threadIdx.x; b < nbins; b += (int)blockDim.x) local[b] = 0;
    __syncthreads();
    const int stride = (int)(gridDim.x * blockDim.x);
    for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += stride) {
        gptc_atomic_add(&local[x[i] % nbins], 1);
        gptc_atomic_add(sum, (float)x[i]);
        gptc_atomic_max(maxv, x[i]);
    }
    __syncthreads();
    for (int b = (int)threadIdx.x; b < nbins; b += (int)blockDim.x)
        if (local[b]) gptc_atomic_add(&bins[b], local[b]);
}
