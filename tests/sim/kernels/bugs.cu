// bugs.cu: kernels with planted bugs that the sim executor must catch
// (tests/sim/test_sim.cc says how each must fail), and the corrected twins
// of the racy ones. Valid CUDA all the same: NVRTC compiles them.
#include "prims.cuh"

// Threads 0..4 return before a barrier the others wait at.
extern "C" __global__ void divergent_barrier(float *out) {
    if (threadIdx.x < 5) return;
    out[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = 2.0f;
}

// Only lanes 0..15 of each warp take part in the shuffle.
extern "C" __global__ void divergent_shuffle(float *out) {
    float v = (float)threadIdx.x;
    if ((threadIdx.x & 31u) < 16) v = __shfl_xor_sync(GPTC_FULL_MASK, v, 1);
    out[threadIdx.x] = v;
}

// A shuffle with a partial mask: outside the subset.
extern "C" __global__ void partial_mask(float *out) { out[threadIdx.x] = __shfl_down_sync(0x0000ffffu, 1.0f, 1); }

// The first warp waits at one barrier, the others at another.
extern "C" __global__ void two_barriers(float *out) {
    if (threadIdx.x < 32) {
        out[threadIdx.x] = 1.0f;
        __syncthreads();
    } else {
        __syncthreads();
        out[threadIdx.x] = 2.0f;
    }
}

// warp_sum in a block whose last warp is partial: its lanes shuffle with
// lanes that do not exist.
extern "C" __global__ void partial_warp_sum(float *out) { out[threadIdx.x] = warp_sum(1.0f); }

// y[i] = x[i - 1] within each block, through shared memory but without the
// barrier between the writes and the reads: right only if thread i - 1
// happens to run before thread i.
extern "C" __global__ void shift_racy(const float *__restrict__ x, float *__restrict__ y) {
    __shared__ float s[1024];
    const unsigned i = threadIdx.x, g = blockIdx.x * blockDim.x + threadIdx.x;
    s[i] = x[g];
    y[g] = i ? s[i - 1] : 0.0f;
}

extern "C" __global__ void shift_fixed(const float *__restrict__ x, float *__restrict__ y) {
    __shared__ float s[1024];
    const unsigned i = threadIdx.x, g = blockIdx.x * blockDim.x + threadIdx.x;
    s[i] = x[g];
    __syncthreads();
    y[g] = i ? s[i - 1] : 0.0f;
}

// Sums the partial sums of 32 warps when the block has fewer: the slots of
// the missing warps were never written.
extern "C" __global__ void sum_uninit(const float *__restrict__ x, float *__restrict__ out) {
    __shared__ float partial[32];
    float v = warp_sum(x[blockIdx.x * blockDim.x + threadIdx.x]);
    if ((threadIdx.x & 31u) == 0) partial[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = warp_sum(partial[threadIdx.x]);
        if (threadIdx.x == 0) out[blockIdx.x] = v;
    }
}

// Writes one element past the end of out (n elements).
extern "C" __global__ void oob_write(float *out, int n) {
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i <= n) out[i] = 1.0f;  // the planted out-of-bounds write
}

// y[g] = x at the next thread's element, staged through shared memory with
// cp.async in two groups per thread (into a, then into b) and read after
// cp_async_wait<1>() and a barrier: from a, right (its group is waited
// for); from b (read_newer), the planted bug: the newest group may still be
// in flight.
extern "C" __global__ void async_groups(const float *__restrict__ x, float *__restrict__ y, int read_newer) {
    __shared__ float a[1024], b[1024];
    const unsigned i = threadIdx.x, g = blockIdx.x * blockDim.x + threadIdx.x;
    cp_async_4(&a[i], x + g, true);
    cp_async_commit();
    cp_async_4(&b[i], x + g, true);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const unsigned next = (i + 1) % blockDim.x;
    y[g] = read_newer ? b[next] : a[next];
}
