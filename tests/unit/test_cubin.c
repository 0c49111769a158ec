/*
 * test_cubin.c: which of a generated trainer's ahead-of-time cubins the
 * cuda executor loads on a GPU (cuda_cubin_for in runtime/device/cuda/gpu_cuda.h):
 * its own architecture's; else an earlier minor of the same major; never
 * an arch-specific one (sm_90a) on another GPU; none across majors.
 */
#include <string.h>

#include "runtime/device/cuda/gpu_cuda.h"
#include "tests/unit/test.h"

static const BuildCubin cubins[] = {{"sm_90a", NULL, 0}, {"sm_80", NULL, 0}, {"sm_86", NULL, 0}};

static const char *pick(int n, int major, int minor) {
    const BuildCubin *c = cuda_cubin_for(cubins, n, major, minor);
    return c ? c->arch : "none";
}

TEST(cubin_for_each_gpu) {
    CHECK(!strcmp(pick(3, 9, 0), "sm_90a"));
    CHECK(!strcmp(pick(3, 8, 0), "sm_80"));
    CHECK(!strcmp(pick(3, 8, 6), "sm_86"));
    CHECK(!strcmp(pick(3, 8, 9), "sm_86"));
    CHECK(!strcmp(pick(2, 8, 9), "sm_80"));
    CHECK(!strcmp(pick(3, 9, 1), "none"));
    CHECK(!strcmp(pick(3, 10, 0), "none"));
    CHECK(!strcmp(pick(3, 7, 5), "none"));
    CHECK(!strcmp(pick(0, 9, 0), "none"));
}
