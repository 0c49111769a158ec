/*
 * stats.c: what a validated model costs before any GPU time is spent:
 * parameter counts per group, training FLOPs per token and an estimate of
 * memory per GPU. Parameter counts come from params_list, so they agree with
 * checkpoints and exports by construction. FLOPs and memory are estimates;
 * every assumption behind them is written next to the code that makes it,
 * because users read these numbers and plan runs by them.
 */
#include <string.h>

#include "compiler/report/stats.h"

static int64_t dtype_bytes(DType d) { return d == DTYPE_FP32 ? 4 : 2; }

/* Optimizer state bytes on rank 0, as gptc's device executors keep it
 * (runtime/device/optim_gpu.c), which is more than the recipe keeps:
 * - Adam's m and v in fp32 on every rank (the recipe keeps them in the
 *   parameter's dtype);
 * - Muon's fp32 momentum for every matrix on every rank (every rank
 *   advances every momentum, so that any rank's checkpoint is whole; the
 *   recipe keeps a matrix's state only on its owner), plus the master
 *   weight's missing precision: the 16-bit low half with the split master,
 *   or a full fp32 copy with MASTER_FP32.
 * *owned gets how many Muon matrices rank 0 orthogonalises: the k-th in
 * params_list order belongs to rank k mod ranks. */
static int64_t optimizer_bytes(const ModelSpec *s, const ParamTensor *p, int n, int *owned) {
    int64_t bytes = 0, master = s->dtypes.muon_master == MASTER_SPLIT16 ? 2 : 4;
    int k = 0, ranks = s->train.ranks > 0 ? s->train.ranks : 1;
    *owned = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].opt == OPT_ADAM) {
            bytes += 2 * 4 * p[i].numel;
            continue;
        }
        bytes += p[i].numel * (4 + master);
        *owned += k++ % ranks == 0;
    }
    return bytes;
}

/* What one step sends between the ranks (runtime/dist/devcomm.h): every
 * gradient, fp32, averaged by an all-reduce; each Muon tensor's new
 * weights, both 16-bit halves, broadcast by the rank that orthogonalised
 * it (the k-th in params_list order: rank k mod ranks). */
static void comm_bytes(const ModelSpec *s, const ParamTensor *p, int n, ModelStats *out) {
    int N = s->train.ranks, k = 0;
    if (N < 2) return;
    for (int i = 0; i < n; i++) {
        out->comm_allreduce += 4 * p[i].numel;
        if (p[i].opt != OPT_MUON) continue;
        out->comm_bcast += 4 * p[i].numel;
        if (k++ % N) out->comm_bcast_received += 4 * p[i].numel;
    }
    out->comm_allreduce_sent = out->comm_allreduce / N * 2 * (N - 1);
}

/* Activations saved for backward by one training step at tokens_per_rank
 * tokens (batch 1, as in the recipe), in bytes. Residual-stream tensors are
 * bf16, norm statistics and softmax log-sum-exps fp32. Per layer:
 *   - x_in [T, dim]: the residual entering the block, for the lambda and
 *     skip-weight gradients (a skip source is an earlier block's output,
 *     which is the next block's input, so it is not counted twice);
 *   - with attention:
 *       x_mix [T, dim]: the mixed residual, input of the qkv projection;
 *       q, k, v [3, T, dim]: normed, rotated and value-mixed, the inputs of
 *         the attention kernel (the norms' backward uses them with rstd);
 *       rstd of q, k, v [3, T, heads] fp32;
 *       y [T, dim]: the attention output, input of Wo;
 *       lse [T, heads] fp32: the softmax log-sum-exp per head;
 *   - MLP: the normed input [T, dim] with its rstd [T] fp32, the fc
 *     pre-activation [T, hidden] (for relu^2's backward) and the activation
 *     [T, hidden] (input of proj).
 * Once per step:
 *   - each x0 table after its norm [T, dim] with rstd [T] fp32;
 *   - every value-embedding table gathered [T, dim] (the recipe gathers all
 *     of them up front);
 *   - the final norm's output [T, dim] with rstd [T] fp32;
 *   - the logits [T, padded_vocab] in fp32, which the recipe materialises
 *     before the softcap and the loss.
 * Not counted: token ids and targets, transient workspaces (the logits'
 * gradient, of the logits' size, exists only at the start of backward),
 * communication buffers, the allocator's fragmentation, and the CUDA
 * context. Validation runs without autograd and chunks its loss, so it needs
 * less despite its longer sequences. */
static int64_t activation_bytes(const ModelSpec *s) {
    const SpecModel *m = &s->model;
    int64_t T = s->train.tokens_per_rank;
    int64_t row = T * m->dim * 2;
    int64_t hidden = T * m->mlp_hidden * 2;
    int64_t per_head = T * m->heads * 4;
    int64_t rstd = T * 4;
    int64_t bytes = 0;
    for (int i = 0; i < m->layers; i++) {
        bytes += row;
        if (m->attention[i])
            bytes += row + 3 * row + 3 * per_head + row + per_head;
        bytes += row + rstd + 2 * hidden;
    }
    bytes += s->x0.tables * (row + rstd);
    bytes += s->ve.tables * row;
    bytes += row + rstd;
    bytes += T * s->vocab.padded * 4;
    return bytes;
}

/* Mean keys a query attends to under a window of W blocks of b tokens: a
 * query at offset j of its block sees (W-1)*b + j + 1 keys. This is the
 * upper bound with no document boundaries; document masking lowers it in
 * practice. It never exceeds the mean causal context of a T-token sequence,
 * (T+1)/2 keys. */
static double mean_keys(int W, int b, int64_t T) {
    double keys = (double)(W - 1) * b + (b + 1) / 2.0;
    double causal = ((double)T + 1.0) / 2.0;
    return keys < causal ? keys : causal;
}

/* Attention FLOPs per token, forward + backward, at the final windows:
 * per (query, key) pair and head, QK^T and PV cost 2*head_dim each forward
 * (4*head_dim), the backward twice that, so 12*head_dim in all. The
 * backward's recomputation of QK^T in fused kernels is hardware work, not
 * model FLOPs, and is left out. */
static double attention_flops(const ModelSpec *s) {
    int lw, sw;
    spec_window_blocks(s, s->train.steps, false, &lw, &sw);
    double flops = 0.0;
    for (int i = 0; i < s->model.layers; i++) {
        if (!s->model.attention[i]) continue;
        int W = s->attn.window.long_layer[i] ? lw : sw;
        double keys = mean_keys(W, s->attn.window.block_size,
                                s->train.tokens_per_rank);
        flops += 12.0 * s->model.heads * s->model.head_dim * keys;
    }
    return flops;
}

void stats_compute(const ModelSpec *s, ModelStats *out) {
    ParamTensor p[PARAMS_MAX];
    int n = params_list(s, p);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        out->params_group[p[i].group] += p[i].numel;
        out->params_total += p[i].numel;
        out->bytes_params += p[i].numel * dtype_bytes(p[i].dtype);
    }
    /* Each token passes through every block matrix and the head once (the
     * head is applied at its padded size, tied or not); a GEMM costs 2 FLOPs
     * per weight forward and 4 backward (input and weight gradients). */
    int64_t weights = out->params_group[GROUP_ATTN] + out->params_group[GROUP_MLP] +
                      (int64_t)s->vocab.padded * s->model.dim;
    out->flops_matmul = 6.0 * (double)weights;
    out->flops_attention = attention_flops(s);
    out->flops_total = out->flops_matmul + out->flops_attention;
    /* Every rank holds every gradient, in fp32 whatever its parameter's
     * dtype: the device executors accumulate and average them in fp32
     * (runtime/device/exec.c), where the recipe keeps each in its
     * parameter's dtype. */
    out->bytes_grads = 4 * out->params_total;
    out->bytes_optim = optimizer_bytes(s, p, n, &out->muon_owned);
    for (int i = 0; i < n; i++) out->muon_matrices += p[i].opt == OPT_MUON;
    comm_bytes(s, p, n, out);
    out->bytes_activations = activation_bytes(s);
    out->bytes_total = out->bytes_params + out->bytes_grads + out->bytes_optim +
                       out->bytes_activations;
}
