/*
 * fuzz_load.c: libFuzzer target for the model loader (tests/run-fuzz.sh).
 *
 * Each input is one model file in memory: parsed into a tree and validated,
 * with messages silenced. It must never crash, leak, hang or allocate
 * without bound, whatever the bytes. `extends` needs files, so it is covered
 * by the unit tests and the bad-input corpus instead.
 */
#include <stddef.h>
#include <stdint.h>

#include "compiler/lang/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    diag_set_stream(NULL);
    YDoc doc;
    ModelSpec spec;
    if (ytree_parse("fuzz.yaml", (const char *)data, size, &doc))
        spec_validate(doc.root, "fuzz.yaml", &spec);
    ytree_free(&doc);
    diag_reset();
    return 0;
}
