/*
 * ref_api.h: the ref executor's API for one precision; ref.h includes it
 * twice (float as ref_*, double as ref64_*). No include guard on purpose.
 */

typedef struct REF_API_NAME(Model) REF_API_NAME(Model);

/* A model of spec `s` for sequences of up to `max_T` tokens (a multiple of
 * the attention block size). Parameters are zero until init or a load. */
REF_API_NAME(Model) *REF_API_NAME(model_new)(const ModelSpec *s, int max_T);
void REF_API_NAME(model_free)(REF_API_NAME(Model) *m);

/* All parameters (and their gradients) in one buffer, tensor after tensor
 * in params_list order; `offsets[i]` is where tensor i starts. */
REF_API_REAL *REF_API_NAME(params)(REF_API_NAME(Model) *m);
REF_API_REAL *REF_API_NAME(grads)(REF_API_NAME(Model) *m);
size_t REF_API_NAME(num_params)(const REF_API_NAME(Model) *m);
int REF_API_NAME(tensors)(const REF_API_NAME(Model) *m, const ParamTensor **meta,
                          const size_t **offsets);

/* The recipe's initialisation (docs/recipe.md, 'Initialisation') from
 * `seed`. */
void REF_API_NAME(init)(REF_API_NAME(Model) *m, uint64_t seed);

/* The same initialisation into `params` (params_list order, packed), with
 * no model: the device executors start from exactly ref's weights. */
void REF_API_NAME(init_params)(const ModelSpec *s, REF_API_REAL *params, uint64_t seed);

/* Forward pass over T tokens with the window of training step `step`
 * (validation: the validation window). Returns the mean cross-entropy over
 * the T targets. Keeps what backward needs. */
double REF_API_NAME(forward)(REF_API_NAME(Model) *m, const int *inputs, const int *targets,
                             int T, int step, bool validation);

/* Gradients of the last forward's loss, written (not added) to grads. */
void REF_API_NAME(backward)(REF_API_NAME(Model) *m);

/* The last forward's logits after the softcap, [T, padded vocab]. */
const REF_API_REAL *REF_API_NAME(logits)(const REF_API_NAME(Model) *m);

/* The logit lens's views of the last forward, [T, dim] each, or NULL when
 * out of range: x at the input of layer i (i = layers: the last layer's
 * output, what the head reads), input table k after its norm, and value
 * table k's rows for the tokens. */
const REF_API_REAL *REF_API_NAME(stream)(const REF_API_NAME(Model) *m, int layer);
const REF_API_REAL *REF_API_NAME(input_table)(const REF_API_NAME(Model) *m, int k);
const REF_API_REAL *REF_API_NAME(value_table)(const REF_API_NAME(Model) *m, int k);

/* The RMS over the last forward's tokens of x where it enters each layer's
 * mix with the input tables (the residual stream at the layer's input,
 * plus the skip that lands there): x_rms[layers]; and of each input table
 * after its norm: x0_rms[tables]. */
void REF_API_NAME(norms)(const REF_API_NAME(Model) *m, double *x_rms, double *x0_rms);

/* Rows x [T, dim] (T of the last forward) through the final norm, the head
 * and the softcap, as the forward decodes the last layer's output; returns
 * the logits [T, padded vocab], in the buffer logits() returns (the last
 * forward's are overwritten). */
const REF_API_REAL *REF_API_NAME(decode)(REF_API_NAME(Model) *m, const REF_API_REAL *x);

/* cos and sin [T, head_dim / 2] (row-major, fp32 in ref_*) of the spec's
 * rotary for positions 0 .. T-1: the very tables the ref executor rotates
 * with, for an executor that must rotate identically (templates/qkv.cu). */
void REF_API_NAME(rotary_tables)(const ModelSpec *s, int T, REF_API_REAL *cosb, REF_API_REAL *sinb);
