/*
 * backend.c: the executors the trainer can use. Each is a table of
 * functions over its own model object; adding one means adding a table.
 */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "ref.h"

static float *ref_params_fn(void *m) { return ref_params(m); }
static float *ref_grads_fn(void *m) { return ref_grads(m); }
static size_t ref_num_params_fn(const void *m) { return ref_num_params(m); }
static int ref_tensors_fn(const void *m, const ParamTensor **meta, const size_t **off) {
    return ref_tensors(m, meta, off);
}
static void ref_init_fn(void *m, uint64_t seed) { ref_init(m, seed); }
static double ref_forward_fn(void *m, const int *in, const int *tgt, int T, int step, bool val) {
    return ref_forward(m, in, tgt, T, step, val);
}
static void ref_backward_fn(void *m) { ref_backward(m); }
static void ref_close_fn(void *m) { ref_model_free(m); }

bool backend_open(Backend *b, const char *name, const ModelSpec *s, int max_T, char *err,
                  size_t errcap) {
    memset(b, 0, sizeof *b);
    if (strcmp(name, "ref")) {
        snprintf(err, errcap, "unknown backend '%s'; this build has: ref", name);
        return false;
    }
    *b = (Backend){"ref",          ref_model_new(s, max_T), ref_params_fn,  ref_grads_fn,
                   ref_num_params_fn, ref_tensors_fn,       ref_init_fn,    ref_forward_fn,
                   ref_backward_fn, ref_close_fn};
    return true;
}

void backend_close(Backend *b) {
    if (b->impl) b->close(b->impl);
    b->impl = NULL;
}
