/*
 * backend_dev.c: the device executors, `sim` and `cuda`, as Backends. Both
 * are the same three parts over a Gpu (runtime/device/gpu.h): the plan of a step
 * run by exec.c, the optimizer on the device (optim_gpu.c), and host
 * copies of the parameters and gradients that the trainer reads for logs,
 * checkpoints and multi-rank averaging. Only the Gpu differs: the sim one
 * runs the generated kernels compiled for this CPU (sim_build.c), the cuda
 * one the same kernels compiled by NVRTC on the GPU.
 *
 * The host copies are fetched only when asked for (params(), grads()), so
 * that a training step on one rank never moves the model over PCIe.
 */
#include "runtime/device/backend_dev.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device/cuda/gpu_cuda.h"
#include "runtime/device/cuda/nccl_comm.h"
#include "runtime/dist/devcomm.h"
#include "runtime/device/exec.h"
#include "runtime/device/optim_gpu.h"
#include "runtime/ref/ref.h"
#include "runtime/device/sim/sim_build.h"
#include "runtime/device/sim/gpu_sim.h"
#include "runtime/device/tune_bench.h"
#include "compiler/util/json.h"

typedef struct {
    Gpu g;
    bool gpu_open;
    void *so; /* sim: the kernels' shared object */
    Exec *e;
    OptimGpu *opt;
    GpuParams gp;
    const ModelBuild *mb;
    size_t off[PARAMS_MAX];
    size_t total;
    float *params, *grads;     /* host copies */
    bool params_fresh;         /* params holds what the device holds */
    bool grads_fresh;
    DevComm *comm; /* several ranks */
    /* How this executor's device collectives are made: sim's straight on
     * host memory, cuda's through NCCL. */
    DevComm *(*open_comm)(Gpu *g, Coll *coll, double timeout_s, char *err, size_t errcap);
    char err[1024];
} Dev;

static void dev_fail(Dev *d, const char *what, const char *why) {
    snprintf(d->err, sizeof d->err, "%s executor: %s: %s", d->g.name ? d->g.name : "device", what, why);
    fprintf(stderr, "gptc: %s\n", d->err);
}

/* The host copy of the parameters or gradients, read from the device only
 * when the device has changed them since. */
static float *dev_host_copy(Dev *d, bool *fresh, int (*download)(Exec *, float *), float *host, const char *what) {
    if (!*fresh) {
        if (download(d->e, host)) dev_fail(d, what, exec_error(d->e));
        *fresh = true;
    }
    return host;
}

static float *dev_params(void *impl) {
    Dev *d = impl;
    return dev_host_copy(d, &d->params_fresh, exec_download_params, d->params, "reading the parameters");
}

static float *dev_grads(void *impl) {
    Dev *d = impl;
    return dev_host_copy(d, &d->grads_fresh, exec_download_grads, d->grads, "reading the gradients");
}

static size_t dev_num_params(const void *impl) { return ((const Dev *)impl)->total; }

static int dev_tensors(const void *impl, const ParamTensor **meta, const size_t **offsets) {
    const Dev *d = impl;
    *meta = d->mb->tensors;
    *offsets = d->off;
    return d->mb->ntensors;
}

static void dev_params_changed(void *impl) {
    Dev *d = impl;
    if (exec_upload_params(d->e, d->params)) dev_fail(d, "writing the parameters", exec_error(d->e));
    d->params_fresh = true;
}

static void dev_grads_changed(void *impl) {
    Dev *d = impl;
    if (exec_upload_grads(d->e, d->grads)) dev_fail(d, "writing the gradients", exec_error(d->e));
}

static void dev_init(void *impl, uint64_t seed) {
    Dev *d = impl;
    ref_init_params(&d->mb->spec, d->params, seed);
    dev_params_changed(d);
}

static double dev_forward(void *impl, const int *in, const int *tgt, int T, int step, bool val) {
    Dev *d = impl;
    double loss = NAN;
    if (exec_forward(d->e, in, tgt, T, step, val, &loss)) {
        dev_fail(d, "forward", exec_error(d->e));
        return NAN;
    }
    return loss;
}

static void dev_backward(void *impl) {
    Dev *d = impl;
    if (exec_backward(d->e)) dev_fail(d, "backward", exec_error(d->e));
    d->grads_fresh = false;
}

static int dev_step(void *impl, int step) {
    Dev *d = impl;
    if (optim_gpu_step(d->opt, &d->gp, exec_grads(d->e), step)) {
        dev_fail(d, "optimizer step", d->g.err);
        return -1;
    }
    d->params_fresh = false;
    return 0;
}

static int dev_state(void *impl, CkptArray *out, int max) { return optim_gpu_state(((Dev *)impl)->opt, out, max); }

static int dev_set_state(void *impl, const CkptArray *in, int n) {
    Dev *d = impl;
    if (optim_gpu_set_state(d->opt, in, n)) {
        dev_fail(d, "loading the optimizer state", d->g.err);
        return -1;
    }
    return 0;
}

static const char *dev_error(void *impl) { return ((Dev *)impl)->err; }

static int dev_sync(void *impl) {
    Dev *d = impl;
    if (d->g.sync(&d->g)) {
        dev_fail(d, "waiting for the device", d->g.err);
        return -1;
    }
    return 0;
}

static void dev_memory(void *impl, size_t *now, size_t *peak) {
    Dev *d = impl;
    *now = *peak = 0;
    if (!strcmp(d->g.name, "cuda")) gpu_cuda_stats(&d->g, now, peak);
}

static int dev_norms(void *impl, double *x_rms, double *x0_rms) {
    Dev *d = impl;
    if (!exec_norms(d->e, x_rms, x0_rms)) return 0;
    dev_fail(d, "reading the norms", exec_error(d->e));
    return -1;
}

static int dev_join_ranks(void *impl, Coll *coll, double timeout_s) {
    Dev *d = impl;
    char why[512];
    if (!(d->comm = d->open_comm(&d->g, coll, timeout_s, why, sizeof why))) {
        dev_fail(d, "joining the other ranks", why);
        return -1;
    }
    exec_set_comm(d->e, d->comm, 1.0f / (float)d->comm->size);
    optim_gpu_set_comm(d->opt, d->comm);
    return 0;
}

static int dev_set_profile(void *impl, bool on) {
    Dev *d = impl;
    if (exec_set_profile(d->e, on)) {
        dev_fail(d, "profiling", exec_error(d->e));
        return -1;
    }
    return 0;
}

static void dev_profile(void *impl, const ModelBuild **build, const double **ms) {
    Dev *d = impl;
    *build = d->mb;
    *ms = exec_profile(d->e);
}

/* The device runs build b's GEMM algorithms, every other shape its default. */
static int use_gemms(Dev *d, const ModelBuild *b) {
    Gpu *g = &d->g;
    int rc = g->gemm_use(g, NULL, NULL);
    for (int i = 0; !rc && i < b->ngemm; i++) {
        GpuGemmAlgo a = tune_gpu_algo(&b->gemm[i].knobs.algo);
        rc = g->gemm_use(g, b->gemm[i].shape, b->gemm[i].knobs.algo.set == 2 ? &a : NULL);
    }
    if (rc) dev_fail(d, "the tuned GEMM algorithms", g->err);
    return rc;
}

static int dev_use_build(void *impl, const ModelBuild *nb) {
    Dev *d = impl;
    if (exec_use_build(d->e, nb)) return dev_fail(d, "a variant build", exec_error(d->e)), -1;
    if (optim_gpu_use_build(d->opt, nb)) return dev_fail(d, "a variant build", "another optimizer plan"), -1;
    if (use_gemms(d, nb)) return -1;
    d->mb = nb;
    return 0;
}

static int dev_replay(void *impl, int from, int to) {
    Dev *d = impl;
    if (exec_run(d->e, from, to)) return dev_fail(d, "replaying a step", exec_error(d->e)), -1;
    return 0;
}

static int dev_gemm_of(void *impl, int step, GpuGemm *out) {
    Dev *d = impl;
    if (exec_gemm(d->e, step, out)) return dev_fail(d, "a GEMM step", exec_error(d->e)), -1;
    return 0;
}

static int dev_step_class(void *impl, int step, char *out, size_t cap) {
    Dev *d = impl;
    if (exec_step_class(d->e, step, out, cap)) return dev_fail(d, "a plan step's class", exec_error(d->e)), -1;
    return 0;
}

static int dev_ns_gemm(void *impl, int i, int j, bool ready, int step, GpuGemm *out) {
    Dev *d = impl;
    int rc = optim_gpu_ns_gemm(d->opt, i, j, ready ? exec_grads(d->e) : NULL, step, out);
    if (rc < 0) dev_fail(d, "a Newton-Schulz product", d->g.err);
    return rc;
}

static Gpu *dev_gpu(void *impl) { return &((Dev *)impl)->g; }

static void dev_close(void *impl) {
    Dev *d = impl;
    if (!d) return;
    if (d->comm) d->comm->close(d->comm);
    optim_gpu_free(d->opt);
    exec_free(d->e);
    if (d->gpu_open) d->g.close(&d->g);
    if (d->so) dlclose(d->so);
    free(d->params);
    free(d->grads);
    free(d);
}

/* sim: the compiler that built the kernels for this CPU; cuda: the GPU and
 * the versions of what drives it. */
static void dev_describe(void *impl, FILE *f) {
    Dev *d = impl;
    GpuCudaInfo in;
    if (gpu_cuda_info(&d->g, &in) != 0) {
        fputs(", \"sim\": {\"compiler\": ", f);
        json_str(f, sim_build_compiler(), 256);
        fputs(", \"flags\": \"" SIM_BUILD_FLAGS "\"}", f);
        return;
    }
    fputs(", \"gpu\": {\"name\": ", f);
    json_str(f, in.name, sizeof in.name);
    fprintf(f, ", \"device\": %d, \"compute_capability\": \"%d.%d\", \"arch\": \"%s\", \"sms\": %d, "
               "\"memory_bytes\": %zu, \"driver\": \"%d.%d\", \"nvrtc\": \"%d.%d\", \"cublaslt\": %zu}",
            coll_local_rank(), in.cc_major, in.cc_minor, in.arch, in.sms, in.total_mem, in.driver_version / 1000,
            in.driver_version % 1000 / 10, in.nvrtc_major, in.nvrtc_minor, in.cublaslt_version);
}

/* The parts over an open Gpu: the plan, parameters, optimizer. */
static bool dev_build(Dev *d, Backend *b, int max_T, char *err, size_t errcap) {
    d->e = exec_new(d->mb, &d->g, max_T, err, errcap);
    if (!d->e) return false;
    for (int i = 0; i < d->mb->ntensors; i++) {
        d->off[i] = d->total;
        d->total += (size_t)d->mb->tensors[i].numel;
    }
    exec_gpu_params(d->e, &d->gp);
    d->opt = optim_gpu_new(&d->g, d->mb);
    d->params = calloc(d->total ? d->total : 1, sizeof(float));
    d->grads = calloc(d->total ? d->total : 1, sizeof(float));
    if (!d->opt || !d->params || !d->grads) {
        snprintf(err, errcap, "%s executor: %s", d->g.name, d->opt ? "out of memory" : d->g.err);
        return false;
    }
    if (use_gemms(d, d->mb)) return snprintf(err, errcap, "%s", d->err), false;
    d->params_fresh = d->grads_fresh = true;
    *b = (Backend){.name = d->g.name,
                   .impl = d,
                   .params = dev_params,
                   .grads = dev_grads,
                   .num_params = dev_num_params,
                   .tensors = dev_tensors,
                   .init = dev_init,
                   .forward = dev_forward,
                   .backward = dev_backward,
                   .close = dev_close,
                   .params_changed = dev_params_changed,
                   .grads_changed = dev_grads_changed,
                   .step = dev_step,
                   .state = dev_state,
                   .set_state = dev_set_state,
                   .error = dev_error,
                   .sync = dev_sync,
                   .memory = dev_memory,
                   .norms = dev_norms,
                   .join_ranks = dev_join_ranks,
                   .set_profile = dev_set_profile,
                   .profile = dev_profile,
                   .describe = dev_describe,
                   .use_build = dev_use_build,
                   .replay = dev_replay,
                   .gemm_of = dev_gemm_of,
                   .step_class = dev_step_class,
                   .ns_gemm = dev_ns_gemm,
                   .gpu = dev_gpu};
    return true;
}

/* A device executor of build mb, which has a plan. */
static Dev *dev_new(const ModelBuild *mb, char *err, size_t errcap) {
    if (!mb->has_plan) return snprintf(err, errcap, "%s", mb->plan_why), NULL;
    Dev *d = calloc(1, sizeof *d);
    if (!d) snprintf(err, errcap, "out of memory");
    else d->mb = mb;
    return d;
}

static DevComm *sim_comm(Gpu *g, Coll *coll, double timeout_s, char *err, size_t errcap) {
    (void)g, (void)timeout_s; /* coll's own deadlines bound every wait */
    DevComm *c = devcomm_host(coll);
    if (!c) snprintf(err, errcap, "out of memory");
    return c;
}

bool backend_sim_open(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap) {
    Dev *d = dev_new(mb, err, errcap);
    if (!d) return false;
    /* A generated trainer has its kernels linked in: its own symbols. */
    char so[4096];
    if (!mb->sim_linked && !sim_build_kernels(mb, so, sizeof so, err, errcap)) goto fail;
    d->so = dlopen(mb->sim_linked ? NULL : so, RTLD_NOW | RTLD_LOCAL);
    if (!d->so) {
        snprintf(err, errcap, "sim executor: %s", dlerror());
        goto fail;
    }
    if (gpu_sim_open(&d->g, d->so)) {
        snprintf(err, errcap, "sim executor: %s", d->g.err);
        goto fail;
    }
    d->gpu_open = true;
    d->open_comm = sim_comm;
    if (dev_build(d, b, max_T, err, errcap)) return true;
fail:
    dev_close(d);
    return false;
}

static DevComm *cuda_comm(Gpu *g, Coll *coll, double timeout_s, char *err, size_t errcap) {
    return devcomm_nccl(g, coll, coll_local_rank(), timeout_s, err, errcap);
}

bool backend_cuda_open(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap) {
    Dev *d = dev_new(mb, err, errcap);
    if (!d) return false;
    /* One GPU per rank on a machine: the rank's local number. */
    char why[512];
    int device = coll_local_rank(), count = cuda_device_count(why, sizeof why);
    bool ok = true;
    if (count == 0) {
        snprintf(err, errcap, "%s", why);
        ok = false;
    } else if (device >= count) {
        snprintf(err, errcap, "this rank is number %d on its machine, but the driver sees %d GPU%s", device, count,
                 count == 1 ? "" : "s");
        ok = false;
    }
    GpuCudaConfig cfg = {.device = device, .kernels_source = mb->kernels_cu, .extra_sources = mb->extra_cu, .nextra = mb->nextra_cu, .cubins = mb->cubins,
                         .ncubins = mb->ncubins};
    if (ok && gpu_cuda_open(&d->g, &cfg, err, errcap) == 0) d->gpu_open = true;
    d->open_comm = cuda_comm;
    if (d->gpu_open && dev_build(d, b, max_T, err, errcap)) return true;
    dev_close(d);
    return false;
}
