// kernels_sim.cc: the test kernels compiled for the sim executor, each
// exported to C as gptc_sim_NAME (runtime/device/sim/sim.h) the way generated code
// wraps its kernels. Needs -Iruntime/sim -Itemplates -fno-strict-aliasing.
#include "kernels/bench.cu"
#include "kernels/bf16.cu"
#include "kernels/bugs.cu"
#include "kernels/histogram.cu"
#include "kernels/mma.cu"
#include "kernels/reduce.cu"
#include "kernels/transpose.cu"
#include "kernels/warp.cu"
#include "kernels/wgmma.cu"
#include "kernels/whitelist.cu"

#define K(name) GPTC_SIM_KERNEL(name)
#include "kernel_list.h"
