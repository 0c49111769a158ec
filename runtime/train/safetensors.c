/*
 * safetensors.c: writes a ModelSpec's parameters as safetensors, and reads
 * back the metadata of such a file (see safetensors.h).
 *
 * The JSON header is printed into memory first, because its length comes
 * before it in the file. Tensor names are params_list's, built from fixed
 * text and integers, so they need no JSON escaping. bf16 tensors are
 * converted a chunk at a time, so the export needs no second copy of the
 * model in memory. The header is read back with the YAML loader: JSON is
 * YAML, and the loader already bounds what untrusted text may cost.
 */
#include "runtime/util/errmsg.h"
#include "runtime/train/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/util/atomic_file.h"
#include "compiler/util/json.h"
#include "compiler/plan/params.h"
#include "compiler/lang/spec_json.h"
#include "compiler/version.h"
#include "compiler/lang/ytree.h"

/* Tensors are written as they lie in memory, and the format is LE. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors export assumes a little-endian host"
#endif

#define CHUNK_ELEMS (1u << 18)

uint16_t bf16_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    /* Rounding a NaN's bits could carry into the exponent and give an
     * infinity, or drop every payload bit that is left; set the quiet bit. */
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    /* Adding 0x7fff rounds halves down; the kept bit's parity tips ties to
     * even. Overflow past the largest bf16 correctly gives infinity. */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static DType stored_dtype(const ParamTensor *t, bool all_fp32) {
    return all_fp32 ? DTYPE_FP32 : t->dtype;
}

static uint64_t elem_bytes(DType d) { return d == DTYPE_BF16 ? 2 : 4; }

/* The model the weights belong to, as safetensors metadata (string values
 * only): the spec as `gptc check --json` prints it, the step, and the gptc
 * that wrote it. */
static void metadata_json(FILE *f, const ModelSpec *s, int64_t step) {
    char *spec = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&spec, &len);
    if (m) {
        spec_json(m, s, false);
        if (fclose(m)) len = 0;
    }
    fprintf(f, "\"__metadata__\":{\"format\":\"pt\",\"source\":\"gptc\",\"gptc.version\":\"%s\","
               "\"gptc.commit\":\"%s\",\"gptc.step\":\"%" PRId64 "\",\"" SAFETENSORS_SPEC_KEY "\":",
            GPTC_VERSION, gptc_commit, step);
    json_str(f, spec ? spec : "", len);
    fputs("}}", f);
    free(spec);
}

/* The JSON header, padded; the caller frees it. NULL when out of memory. */
static char *header_json(const ParamTensor *t, int n, const ModelSpec *s, int64_t step, bool all_fp32,
                         size_t *len) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return NULL;
    uint64_t at = 0;
    fputc('{', f);
    for (int i = 0; i < n; i++) {
        DType d = stored_dtype(&t[i], all_fp32);
        uint64_t end = at + (uint64_t)t[i].numel * elem_bytes(d);
        fprintf(f, "\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name,
                d == DTYPE_BF16 ? "BF16" : "F32");
        for (int k = 0; k < t[i].ndim; k++) fprintf(f, "%s%" PRId64, k ? "," : "", t[i].shape[k]);
        fprintf(f, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]},", at, end);
        at = end;
    }
    metadata_json(f, s, step);
    /* Spaces are JSON whitespace; they align the data that follows. */
    while ((ftell(f) % 8) != 0) fputc(' ', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

static bool write_bf16(FILE *f, const float *x, int64_t numel, uint16_t *buf) {
    for (int64_t i = 0; i < numel; i += CHUNK_ELEMS) {
        size_t k = numel - i < CHUNK_ELEMS ? (size_t)(numel - i) : CHUNK_ELEMS;
        for (size_t j = 0; j < k; j++) buf[j] = bf16_from_float(x[i + (int64_t)j]);
        if (fwrite(buf, sizeof *buf, k, f) != k) return false;
    }
    return true;
}

static bool write_tensors(FILE *f, const ParamTensor *t, int n, const float *params,
                          bool all_fp32, uint16_t *buf) {
    for (int i = 0; i < n; i++) {
        bool ok = stored_dtype(&t[i], all_fp32) == DTYPE_BF16
                      ? write_bf16(f, params, t[i].numel, buf)
                      : fwrite(params, sizeof *params, (size_t)t[i].numel, f) == (size_t)t[i].numel;
        if (!ok) return false;
        params += t[i].numel;
    }
    return true;
}

static bool write_file(const char *path, const ParamTensor *t, int n, const ModelSpec *s, int64_t step,
                       const float *params, bool all_fp32, uint64_t *file_bytes, char *err, size_t errcap) {
    size_t len = 0;
    char *json = header_json(t, n, s, step, all_fp32, &len);
    uint16_t *buf = malloc(CHUNK_ELEMS * sizeof *buf);
    AtomicFile af;
    bool ok = json && buf;
    if (!ok) path_error(err, errcap, path, "out of memory");
    else if ((ok = atomic_open(&af, path, err, errcap))) {
        unsigned char n8[8];
        for (int i = 0; i < 8; i++) n8[i] = (unsigned char)((uint64_t)len >> (8 * i));
        ok = fwrite(n8, 1, 8, af.f) == 8 && fwrite(json, 1, len, af.f) == len &&
             write_tensors(af.f, t, n, params, all_fp32, buf);
        if (!ok) {
            path_error(err, errcap, path, "cannot write %s: %s", af.tmp, strerror(errno));
            atomic_abort(&af);
        } else {
            ok = atomic_commit(&af, err, errcap);
        }
    }
    if (ok && file_bytes) {
        *file_bytes = 8 + len;
        for (int i = 0; i < n; i++)
            *file_bytes += (uint64_t)t[i].numel * elem_bytes(stored_dtype(&t[i], all_fp32));
    }
    free(json);
    free(buf);
    return ok;
}

bool safetensors_write(const char *path, const ModelSpec *s, int64_t step, const float *params, size_t count,
                       bool all_fp32, uint64_t *file_bytes, char *err, size_t errcap) {
    ParamTensor *t = malloc(PARAMS_MAX * sizeof *t);
    if (!t) return path_error(err, errcap, path, "out of memory");
    int n = params_list(s, t);
    uint64_t need = 0;
    for (int i = 0; i < n; i++) need += (uint64_t)t[i].numel;
    bool ok = need == count;
    if (!ok)
        path_error(err, errcap, path, "%zu parameters given, the model's %d tensors hold %" PRIu64,
             count, n, need);
    else
        ok = write_file(path, t, n, s, step, params, all_fp32, file_bytes, err, errcap);
    free(t);
    return ok;
}

/* ---- reading the metadata ---- */

/* The header: its 8-byte length, then that many bytes of JSON, which must
 * fit in the file and in what the YAML loader takes. */
static char *read_header(FILE *f, const char *path, size_t *len, char *err, size_t errcap) {
    unsigned char n8[8];
    uint64_t n = 0;
    if (fread(n8, 1, 8, f) != 8) return path_error(err, errcap, path, "not a safetensors file (shorter than 8 bytes)"), NULL;
    for (int i = 7; i >= 0; i--) n = n << 8 | n8[i];
    struct stat st;
    if (fstat(fileno(f), &st) || n > (uint64_t)st.st_size - 8 || n > YTREE_MAX_BYTES || n < 2)
        return path_error(err, errcap, path, "not a safetensors file (a header of %" PRIu64 " bytes in a file of %lld)",
                          n, (long long)st.st_size), NULL;
    char *text = malloc((size_t)n + 1);
    if (!text) return path_error(err, errcap, path, "out of memory"), NULL;
    if (fread(text, 1, (size_t)n, f) != n) {
        free(text);
        return path_error(err, errcap, path, "cannot read its header: %s", strerror(errno)), NULL;
    }
    text[n] = '\0';
    *len = (size_t)n;
    return text;
}

char *safetensors_metadata(const char *path, const char *key, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) return path_error(err, errcap, path, "cannot open: %s", strerror(errno)), NULL;
    size_t len = 0;
    char *text = read_header(f, path, &len, err, errcap), *value = NULL;
    fclose(f);
    if (!text) return NULL;
    YDoc doc;
    if (!ytree_parse(path, text, len, &doc)) {
        path_error(err, errcap, path, "its header is not valid JSON");
    } else {
        const YNode *meta = ynode_get(doc.root, "__metadata__");
        const YNode *v = meta && meta->kind == YNODE_MAP ? ynode_get(meta, key) : NULL;
        if (!v || v->kind != YNODE_SCALAR)
            path_error(err, errcap, path, "no metadata '%s' (was it written by gptc export?)", key);
        else if (!(value = strdup(v->text)))
            path_error(err, errcap, path, "out of memory");
    }
    ytree_free(&doc);
    free(text);
    return value;
}
