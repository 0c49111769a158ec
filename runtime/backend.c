/*
 * backend.c: the executors the trainer can use. Each is a table of
 * functions over its own model object; adding one means adding a table.
 */
#include "runtime/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device/backend_dev.h"
#include "runtime/device/cuda/gpu_cuda.h"
#include "runtime/ref/optim.h"
#include "runtime/ref/ref.h"

/* The ref executor: the model and the optimizer that owns its state, both
 * on the host. */
typedef struct {
    ref_Model *m;
    Optim *opt;
    char err[512];
} Ref;

static float *ref_params_fn(void *r) { return ref_params(((Ref *)r)->m); }
static float *ref_grads_fn(void *r) { return ref_grads(((Ref *)r)->m); }
static size_t ref_num_params_fn(const void *r) { return ref_num_params(((const Ref *)r)->m); }
static int ref_tensors_fn(const void *r, const ParamTensor **meta, const size_t **off) {
    return ref_tensors(((const Ref *)r)->m, meta, off);
}
static void ref_init_fn(void *r, uint64_t seed) { ref_init(((Ref *)r)->m, seed); }
static double ref_forward_fn(void *r, const int *in, const int *tgt, int T, int step, bool val) {
    return ref_forward(((Ref *)r)->m, in, tgt, T, step, val);
}
static void ref_backward_fn(void *r) { ref_backward(((Ref *)r)->m); }

/* The buffers are the model's own: nothing to copy anywhere. */
static void ref_changed(void *r) { (void)r; }

static int ref_step(void *impl, int step) {
    Ref *r = impl;
    optim_step(r->opt, ref_params(r->m), ref_grads(r->m), step);
    return 0;
}

static int ref_state(void *r, CkptArray *out, int max) { return optim_state(((Ref *)r)->opt, out, max); }

static int ref_set_state(void *impl, const CkptArray *in, int n) {
    Ref *r = impl;
    char why[256];
    if (optim_set_state(r->opt, in, n, why, sizeof why)) return 0;
    snprintf(r->err, sizeof r->err, "ref executor: loading the optimizer state: %s", why);
    return -1;
}

static const char *ref_error(void *r) { return ((Ref *)r)->err; }

/* ref computes as it is called: nothing is queued, no device memory. */
static int ref_sync(void *r) { return (void)r, 0; }
static void ref_memory(void *r, size_t *now, size_t *peak) { (void)r, *now = *peak = 0; }

static void ref_close_fn(void *impl) {
    Ref *r = impl;
    optim_free(r->opt);
    ref_model_free(r->m);
    free(r);
}

static int ref_norms_fn(void *impl, double *x_rms, double *x0_rms) {
    ref_norms(((Ref *)impl)->m, x_rms, x0_rms);
    return 0;
}

static bool ref_open(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap) {
    Ref *r = calloc(1, sizeof *r);
    if (!r) return snprintf(err, errcap, "out of memory"), false;
    r->m = ref_model_new(&mb->spec, max_T);
    const ParamTensor *meta;
    const size_t *off;
    int n = ref_tensors(r->m, &meta, &off);
    r->opt = optim_new(&mb->spec, meta, off, n);
    *b = (Backend){.name = "ref",
                   .impl = r,
                   .params = ref_params_fn,
                   .grads = ref_grads_fn,
                   .num_params = ref_num_params_fn,
                   .tensors = ref_tensors_fn,
                   .init = ref_init_fn,
                   .forward = ref_forward_fn,
                   .backward = ref_backward_fn,
                   .close = ref_close_fn,
                   .params_changed = ref_changed,
                   .grads_changed = ref_changed,
                   .step = ref_step,
                   .state = ref_state,
                   .set_state = ref_set_state,
                   .error = ref_error,
                   .sync = ref_sync,
                   .memory = ref_memory,
                   .norms = ref_norms_fn};
    return true;
}

/* The executors of this build, by name. */
typedef struct {
    const char *name;
    bool (*open)(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap);
} Registered;

static const Registered registry[] = {
    {"ref", ref_open},
    {"sim", backend_sim_open},
    {"cuda", backend_cuda_open},
};
#define NREGISTRY (sizeof registry / sizeof registry[0])

/* The registry's entry for name; NULL with the names there are in err. */
static const Registered *find(const char *name, char *err, size_t errcap) {
    for (size_t i = 0; i < NREGISTRY; i++)
        if (!strcmp(registry[i].name, name)) return &registry[i];
    int at = snprintf(err, errcap, "unknown backend '%s'; this build has: auto", name);
    for (size_t i = 0; i < NREGISTRY && at >= 0 && (size_t)at < errcap; i++)
        at += snprintf(err + at, errcap - (size_t)at, ", %s", registry[i].name);
    return NULL;
}

bool backend_open(Backend *b, const char *name, const ModelBuild *mb, int max_T, char *err, size_t errcap) {
    memset(b, 0, sizeof *b);
    const Registered *r = find(name, err, errcap);
    return r && r->open(b, mb, max_T, err, errcap);
}

const char *backend_resolve(const char *requested, char *note, size_t notecap, char *err, size_t errcap) {
    char why[800];
    if (!strcmp(requested, "auto")) {
        int n = cuda_device_count(why, sizeof why);
        if (n > 0) {
            snprintf(note, notecap, "backend: cuda (auto: %d GPU%s found)", n, n == 1 ? "" : "s");
            return "cuda";
        }
        snprintf(note, notecap, "backend: ref (%s)", why);
        return "ref";
    }
    if (!find(requested, err, errcap)) return NULL;
    if (!strcmp(requested, "cuda") && cuda_device_count(why, sizeof why) == 0) {
        snprintf(err, errcap, "--backend cuda: %s", why);
        return NULL;
    }
    snprintf(note, notecap, "backend: %s (--backend %s)", requested, requested);
    return requested;
}

void backend_close(Backend *b) {
    if (b->impl) b->close(b->impl);
    b->impl = NULL;
}
