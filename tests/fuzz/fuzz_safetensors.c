/*
 * fuzz_safetensors.c: libFuzzer target for what `gptc check
 * FILE.safetensors` reads: the file's header (safetensors_metadata in
 * safetensors.h) and the spec its metadata carries (spec_load_flat in
 * validate.h).
 *
 * Each input is one safetensors file. Besides never crashing, leaking,
 * hanging or allocating without bound, a refused header must say so in a
 * message that starts with the file's path; a spec found in it goes through
 * the same validation as a model file (errors go to diag, silenced here),
 * and a spec that validates must print back (spec_json) to a text that
 * validates to the same model.
 *
 * Seeds (--seeds=DIR): exports of two small models, written by
 * safetensors_write as `gptc export` writes them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/lang/diag.h"
#include "tests/fuzz/fuzz.h"
#include "compiler/plan/params.h"
#include "runtime/train/safetensors.h"
#include "compiler/lang/spec_json.h"
#include "compiler/lang/validate.h"

static FuzzFile in;

static const char tiny[] =
    "vocab: {size: 37, eot: 36, pad_multiple: 8}\n"
    "model: {layers: 3, dim: 16, heads: 2, mlp_hidden: 32}\n"
    "attention: {off_layers: [1], window: {block_size: 8, max_tokens: 8}}\n"
    "value_embeddings: {tables: 1, layers: [0, null, 0]}\n"
    "input_embeddings: {tables: 2}\n"
    "train: {ranks: 1, tokens_per_rank: 8, steps: 2, val: {tokens: 8, tokens_per_rank: 8}}\n";

/* The spec printed back, read again, gives the same model. */
static void check_round_trip(const ModelSpec *s) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) fuzz_fail("out of memory");
    spec_json(f, s, false);
    fclose(f);
    ModelSpec again;
    if (!spec_load_flat("again.json", text, len, NULL, 0, &again))
        fuzz_fail("a spec that validated does not validate when printed back");
    ModelSpec a = *s;
    memcpy(a.source, again.source, sizeof a.source);
    if (memcmp(&a, &again, sizeof a)) fuzz_fail("a spec printed back reads as another model");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_put(&in, data, size);
    char err[1024];
    char *spec = safetensors_metadata(in.path, SAFETENSORS_SPEC_KEY, err, sizeof err);
    if (!spec) {
        size_t n = strlen(in.path);
        if (strncmp(err, in.path, n) || strncmp(err + n, ": ", 2))
            fuzz_fail("safetensors_metadata: the message does not start with the path: %s", err);
    } else {
        ModelSpec s;
        if (spec_load_flat(in.path, spec, strlen(spec), NULL, 0, &s)) check_round_trip(&s);
        free(spec);
    }
    diag_reset();
    return 0;
}

/* ---- seeds ------------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, const char *const *sets, int nsets) {
    ModelSpec s;
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(tiny, f) < 0 || fclose(f)) fuzz_fail("cannot write %s", path);
    if (!spec_load(path, sets, nsets, &s)) fuzz_fail("the seed model %s does not validate", name);
    remove(path);
    ParamTensor t[PARAMS_MAX];
    int n = params_list(&s, t);
    size_t count = 0;
    for (int i = 0; i < n; i++) count += (size_t)t[i].numel;
    float *x = calloc(count, sizeof *x);
    if (!x) fuzz_fail("out of memory");
    for (size_t i = 0; i < count; i++) x[i] = (float)(i % 13) / 8 - 0.75f;
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    if (!safetensors_write(path, &s, 7, x, count, false, NULL, err, sizeof err)) fuzz_fail("%s", err);
    free(x);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_file_open(&in);
    diag_set_stream(NULL);
    const char *dir = fuzz_seed_dir(*argc, *argv);
    if (!dir) return 0;
    write_seed(dir, "tiny", NULL, 0);
    const char *more[] = {"skips.pairs=[[0, 2]]", "train.data.repeat=true", "description=\"a \\\"quoted\\\" one\""};
    write_seed(dir, "skips", more, 3);
    exit(0);
}
