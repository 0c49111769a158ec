/*
 * gpu.c: what every Gpu implementation shares (gpu.h).
 */
#include "runtime/device/gpu.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gpu_fail(Gpu *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    return -1;
}

void gpu_gemm_check(const GpuGemm *mm, char *why, size_t cap) {
    why[0] = '\0';
    bool bf16 = mm->a_type == GPU_BF16 && mm->b_type == GPU_BF16;
    bool f32 = mm->a_type == GPU_F32 && mm->b_type == GPU_F32 && mm->c_type == GPU_F32;
    long long rows_a = mm->trans_a ? mm->m : mm->k, rows_b = mm->trans_b ? mm->k : mm->n;
    if (mm->m < 1 || mm->n < 1 || mm->k < 1 || mm->batch < 1)
        snprintf(why, cap, "m %d, n %d, k %d, batch %d: each must be at least 1", mm->m, mm->n, mm->k, mm->batch);
    else if (!bf16 && !f32)
        snprintf(why, cap, "dtypes a %d, b %d, c %d: only bf16 x bf16 -> bf16 or fp32, fp32 x fp32 -> fp32",
                 mm->a_type, mm->b_type, mm->c_type);
    else if (mm->c_type != GPU_BF16 && mm->c_type != GPU_F32)
        snprintf(why, cap, "c dtype %d is neither bf16 nor fp32", mm->c_type);
    else if (mm->beta != 0.0f && mm->beta != 1.0f)
        snprintf(why, cap, "beta %g: only 0 or 1", (double)mm->beta);
    else if (mm->lda < rows_a || mm->ldb < rows_b || mm->ldc < mm->n)
        snprintf(why, cap, "leading dimensions %lld, %lld, %lld below the rows' %lld, %lld, %d", mm->lda, mm->ldb,
                 mm->ldc, rows_a, rows_b, mm->n);
    else if (mm->batch > 1 && (mm->stride_a < 0 || mm->stride_b < 0 || mm->stride_c < (long long)mm->m * mm->ldc))
        snprintf(why, cap, "batch strides %lld, %lld, %lld: C's must be at least m * ldc, none negative",
                 mm->stride_a, mm->stride_b, mm->stride_c);
    else if (!mm->a || !mm->b || !mm->c)
        snprintf(why, cap, "a NULL matrix");
}

GpuTimed *gpu_time_log_add(GpuTimeLog *l, const char *name) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        GpuTimed *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) return NULL;
        l->v = v, l->cap = cap;
    }
    GpuTimed *t = &l->v[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ms = 0;
    return t;
}

void gpu_time_log_free(GpuTimeLog *l) {
    free(l->v);
    memset(l, 0, sizeof *l);
}

void gpu_gemm_key(const GpuGemm *mm, char *out, size_t cap) {
    snprintf(out, cap, "m%d_n%d_k%d%s%.0d_%c%c_%c%c%c_b%d", mm->m, mm->n, mm->k, mm->batch > 1 ? "_x" : "",
             mm->batch > 1 ? mm->batch : 0, mm->trans_a ? 't' : 'n', mm->trans_b ? 't' : 'n',
             mm->a_type == GPU_BF16 ? 'h' : 'f', mm->b_type == GPU_BF16 ? 'h' : 'f', mm->c_type == GPU_BF16 ? 'h' : 'f',
             mm->beta != 0.0f);
}

size_t gpu_gemm_c_count(const GpuGemm *mm) {
    return (size_t)(mm->batch - 1) * (size_t)mm->stride_c + (size_t)(mm->m - 1) * (size_t)mm->ldc + (size_t)mm->n;
}

void gpu_gemm_timed_name(const GpuGemm *mm, char out[GPU_TIMED_NAME]) {
    char key[GPU_TIMED_NAME - 8];
    gpu_gemm_key(mm, key, sizeof key);
    snprintf(out, GPU_TIMED_NAME, "gemm %s", key);
}
