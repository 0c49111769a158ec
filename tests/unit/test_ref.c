/*
 * test_ref.c: the ref executor's gradients against float64 central
 * differences, on tiny configurations that switch every feature on and off,
 * and the float build against the double build.
 *
 * The configurations use a non-zero init everywhere (no zero Wo, proj or
 * head, non-zero x0 lambdas), or many gradients would be zero by
 * construction and the check would prove nothing about them.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/ref/ref.h"
#include "runtime/util/rng.h"
#include "tests/unit/test.h"
#include "compiler/lang/validate.h"

#define GC_T 32

static const char base_yaml[] =
    "vocab: {size: 37, eot: 36, pad_multiple: 8}\n"
    "model: {layers: 4, dim: 16, heads: 2, mlp_hidden: 32}\n"
    "attention:\n"
    "  window: {block_size: 8, max_tokens: 16, schedule: constant}\n"
    "value_embeddings: {tables: 2, lambda_ve: 0.7}\n"
    "init: {zero_out_proj: false, linear_std_scale: 1.0}\n"
    "head: {init: normal, init_std: 0.3}\n"
    "input_embeddings: {lambda_x00: 0.5, lambda_extra: 0.3}\n"
    "train: {ranks: 1, tokens_per_rank: 32, steps: 10,\n"
    "        val: {tokens: 32, tokens_per_rank: 32}}\n";

/* A spec from the base text with `sets` applied on top. */
static bool spec_from(const char *const *sets, int nsets, ModelSpec *s) {
    char path[] = "/tmp/gptc-test-ref-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return false;
    FILE *f = fdopen(fd, "w");
    fputs(base_yaml, f);
    fclose(f);
    bool ok = spec_load(path, sets, nsets, s);
    remove(path);
    diag_reset();
    return ok;
}

/* Tokens with several documents: EOT at a few places. */
static void make_tokens(int *in, int *tgt, int T, int vocab, int eot, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int t = 0; t < T; t++) {
        in[t] = (int)(rng_next(&r) % (uint64_t)(vocab - 1));
        tgt[t] = (int)(rng_next(&r) % (uint64_t)vocab);
    }
    in[0] = eot;
    in[11] = eot;
    in[20] = eot;
}

/* An element to probe: embedding rows only matter for tokens in the input. */
static size_t probe(const ParamTensor *p, const int *in, Rng *r) {
    if (p->group != GROUP_INPUT_EMBED && p->group != GROUP_VALUE_EMBED)
        return (size_t)(rng_next(r) % (uint64_t)p->numel);
    size_t row = (size_t)in[rng_next(r) % GC_T];
    return row * (size_t)p->shape[1] + (size_t)(rng_next(r) % (uint64_t)p->shape[1]);
}

/* Checks `samples` elements of every tensor (all of the scalars) against
 * (f(w + h) - f(w - h)) / 2h. Returns the worst error relative to
 * 1e-6 + 1e-4 |analytic|, so <= 1 passes. */
static double gradcheck(const ModelSpec *s, int samples) {
    ref64_Model *m = ref64_model_new(s, GC_T);
    ref64_init(m, 7);
    int in[GC_T], tgt[GC_T];
    make_tokens(in, tgt, GC_T, s->vocab.size, s->vocab.eot, 3);
    ref64_forward(m, in, tgt, GC_T, s->train.steps, false);
    ref64_backward(m);
    double *w = ref64_params(m), *g = ref64_grads(m);
    size_t n = ref64_num_params(m);
    double *ana = malloc(n * sizeof *ana);
    memcpy(ana, g, n * sizeof *ana);
    const ParamTensor *meta;
    const size_t *off;
    int nt = ref64_tensors(m, &meta, &off);
    Rng r;
    rng_seed(&r, 11);
    double worst = 0;
    for (int t = 0; t < nt; t++) {
        int count = meta[t].group == GROUP_SCALARS ? (int)meta[t].numel : samples;
        for (int j = 0; j < count; j++) {
            size_t i = off[t] + (meta[t].group == GROUP_SCALARS ? (size_t)j
                                                                : probe(&meta[t], in, &r));
            double h = 1e-5, keep = w[i];
            w[i] = keep + h;
            double up = ref64_forward(m, in, tgt, GC_T, s->train.steps, false);
            w[i] = keep - h;
            double down = ref64_forward(m, in, tgt, GC_T, s->train.steps, false);
            w[i] = keep;
            double num = (up - down) / (2 * h);
            double err = fabs(num - ana[i]) / (1e-6 + 1e-4 * fabs(ana[i]));
            if (err > 1) fprintf(stderr, "  %s[%zu]: analytic %.10g numeric %.10g\n", meta[t].name,
                                 i - off[t], ana[i], num);
            if (err > worst) worst = err;
        }
    }
    free(ana);
    ref64_model_free(m);
    return worst;
}

static void check_config(const char *const *sets, int nsets) {
    ModelSpec s;
    CHECK(spec_from(sets, nsets, &s));
    CHECK(gradcheck(&s, 6) <= 1.0);
}

TEST(gradcheck_base) { check_config(NULL, 0); }

TEST(gradcheck_features_off) {
    const char *sets[] = {"value_embeddings.tables=0", "skips.pairs=[]"};
    check_config(sets, 2);
}

TEST(gradcheck_all_features) {
    const char *sets[] = {"attention.off_layers=[2]", "skips.pairs=[[0, 3], [1, 2]]",
                          "value_embeddings.tables=2", "value_embeddings.layers=[0, 1, null, 0]",
                          "attention.window.long_layers=[0]",
                          "attention.window.schedule=cubic"};
    check_config(sets, 6);
}

TEST(gradcheck_x0_tables) {
    for (int k = 1; k <= 5; k++) {
        char set[64];
        snprintf(set, sizeof set, "input_embeddings.tables=%d", k);
        const char *sets[] = {set, "skips.pairs=[[1, 3]]"};
        check_config(sets, 2);
    }
}

TEST(gradcheck_prenorm_sigmoid) {
    const char *sets[] = {"attention.norm=pre", "head.softcap=sigmoid", "head.offset=0.5",
                          "attention.rotary.convention=interleaved"};
    check_config(sets, 4);
}

TEST(gradcheck_no_softcap_tied_head) {
    const char *sets[] = {"head.softcap=none", "head.tied=true", "vocab.pad_embeddings=true",
                          "attention.rotary.pairs=1"};
    check_config(sets, 4);
}

/* The float build computes the same function: loss and gradients agree
 * with the double build to float precision. */
TEST(ref_float_matches_double) {
    const char *sets[] = {"attention.off_layers=[2]", "skips.pairs=[[0, 3]]",
                          "input_embeddings.tables=3", "value_embeddings.layers=[0, 1, null, 1]"};
    ModelSpec s;
    CHECK(spec_from(sets, 4, &s));
    ref_Model *f = ref_model_new(&s, GC_T);
    ref64_Model *d = ref64_model_new(&s, GC_T);
    ref64_init(d, 5);
    size_t n = ref64_num_params(d);
    CHECK_EQ_INT(n, ref_num_params(f));
    for (size_t i = 0; i < n; i++) ref_params(f)[i] = (float)ref64_params(d)[i];
    int in[GC_T], tgt[GC_T];
    make_tokens(in, tgt, GC_T, s.vocab.size, s.vocab.eot, 9);
    double lf = ref_forward(f, in, tgt, GC_T, 3, false);
    double ld = ref64_forward(d, in, tgt, GC_T, 3, false);
    CHECK_NEAR(lf, ld, 1e-5 * fabs(ld));
    ref_backward(f);
    ref64_backward(d);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(ref_grads(f)[i] - ref64_grads(d)[i]);
        worst = e > worst ? e : worst;
        scale = fabs(ref64_grads(d)[i]) > scale ? fabs(ref64_grads(d)[i]) : scale;
    }
    CHECK(worst <= 1e-4 * scale);
    ref_model_free(f);
    ref64_model_free(d);
}

/* Same seed, same parameters; another seed, others. */
TEST(ref_init_is_seeded) {
    ModelSpec s;
    CHECK(spec_from(NULL, 0, &s));
    ref_Model *a = ref_model_new(&s, GC_T), *b = ref_model_new(&s, GC_T);
    ref_init(a, 1);
    ref_init(b, 1);
    size_t n = ref_num_params(a);
    CHECK(!memcmp(ref_params(a), ref_params(b), n * sizeof(float)));
    ref_init(b, 2);
    CHECK(memcmp(ref_params(a), ref_params(b), n * sizeof(float)) != 0);
    ref_model_free(a);
    ref_model_free(b);
}
