/*
 * fixture.h: reads the tensor files that tests/reference/make_fixtures.py
 * writes (tests/fixtures/NAME.bin).
 *
 * Format, little-endian:
 *   8 bytes   magic "GPTCFIX1"
 *   uint32    tensor count
 *   per tensor:
 *     uint32  name length, then the name (no NUL)
 *     uint32  dtype: 0 = f32, 1 = f64, 2 = i32
 *     uint32  ndim, then int64 shape[ndim]
 *     data    numel x element size
 * and nothing after the last tensor.
 */
#ifndef GPTC_TEST_FIXTURE_H
#define GPTC_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FIX_MAX_DIMS 8
#define FIX_MAX_NAME 256
#define FIX_MAX_TENSORS 4096

typedef enum { FIX_F32 = 0, FIX_F64 = 1, FIX_I32 = 2 } FixDType;

typedef struct {
    char name[FIX_MAX_NAME + 1];
    FixDType dtype;
    int ndim;
    int64_t shape[FIX_MAX_DIMS];
    int64_t numel;
    void *data; /* numel elements of dtype, in host order, suitably aligned */
} FixTensor;

typedef struct {
    int n;
    FixTensor *t;
} Fixture;

/* Reads `path` into `out`. On failure returns false, leaves `out` empty and
 * writes a one-line reason to `err`. */
bool fixture_load(const char *path, Fixture *out, char *err, size_t errlen);
void fixture_free(Fixture *f);

/* The tensor called `name`, or NULL. */
const FixTensor *fixture_find(const Fixture *f, const char *name);

/* The tensor called `name` if it has dtype `dt`, or NULL. */
const FixTensor *fixture_get(const Fixture *f, const char *name, FixDType dt);

#endif
