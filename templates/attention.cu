/*
 * attention.cu: causal attention with the document-causal block-window mask,
 * forward and backward, FlashAttention-2 style (tiles in shared memory, the
 * products on tensor cores, an online softmax; the T x T scores are never
 * stored).
 *
 * Computes, per head h and query t, with the visible keys
 *   V(t) = { s : first_key(t) <= s <= t },
 *   first_key(t) = max(doc_start[t], (t / BS - W + 1) * BS, 0)
 * (BS = the window block size, W = window_blocks; documents are contiguous
 * and doc_start[t] is the first token of t's document, so V(t) is a range)
 *   forward   s_ts = SCALE (q_t . k_s) for s in V(t)
 *             lse[h, t] = log sum_s exp(s_ts)
 *             y_t = sum_s exp(s_ts - lse) v_s
 *   backward  p_ts = exp(SCALE (q_t . k_s) - lse[h, t])
 *             delta[h, t] = dy_t . y_t                        (attn_bwd_pre)
 *             ds_ts = p_ts (dy_t . v_s - delta[h, t]) SCALE
 *             dv_s = sum_t p_ts dy_t, dk_s = sum_t ds_ts q_t    (attn_bwd_dkdv)
 *             dq_t = sum_s ds_ts k_s                           (attn_bwd_dq)
 *   as runtime/ref/attention.h's attention_fwd and attention_bwd.
 * dQ's two sources (DQ_SRC, a tuning knob)
 *   1  attn_bwd_dq recomputes s and ds from q, k, v, dy, lse and delta:
 *      three products per key tile (q k^T, dy v^T, ds k), as
 *      FlashAttention-2's separate dQ pass.
 *   2  attn_bwd_dkdv, which computes every ds_ts anyway, stores them (bf16,
 *      as both paths round them for their product) and attn_bwd_dq is one
 *      product, ds k, over the stored granules: no scores recomputed, no
 *      atomics (every dq element is still summed by one thread, key
 *      granules ascending), at the price of writing and reading dS once.
 *      The sums are those of path 1 term for term (path 1's extra granules
 *      hold only zeros, which change no sum), so on sim both give the same
 *      bits.
 *   Stored dS: granules of 16 queries x 16 keys, each as mma A fragments
 *   (lane l's four registers, 16 bytes, at byte 16 l: a warp loads a
 *   granule with one coalesced 16-byte load per lane). Query granule qb
 *   (queries 16 qb ..) keeps key granules kb = first_key(16 qb) / 16 .. qb
 *   (the only ones with a visible pair) at slots kb - first_key(16 qb) /
 *   16, granule (h, qb, slot) at element ((h nqb + qb) ds_slots + slot)
 *   256, nqb = ceil(rows / 16). A window of W blocks needs at most
 *   min(W BS / 16, nqb) slots (BS % 16 == 0); the plan sizes ds_slots for
 *   the schedule's widest window and the executor refuses a wider one.
 *   attn_bwd_dkdv's key rows hold dS transposed: movmatrix turns each 8 x 8
 *   piece around in registers before the store.
 * Layouts   q, k, v, y, dy, dq, dk, dv: [rows, WIDTH] bf16, head h the
 *           columns h * HEAD_DIM .. + HEAD_DIM - 1 (WIDTH = HEADS *
 *           HEAD_DIM); lse, delta: [HEADS, rows] fp32; doc_start: [rows]
 *           int32, nondecreasing, doc_start[t] <= t.
 * Numerics  q . k and every product on tensor cores (mma m16n8k16, bf16 in,
 *           fp32 accumulate); the softmax in fp32 in base 2 (scores times
 *           SCALE * log2(e), exp2f), lse converted back to natural log. The
 *           probabilities P (forward) and P, dS (backward) are rounded to
 *           bf16 for their second product, as in FlashAttention: a relative
 *           error of 2^-8 per term that the tests bound. One rounding to bf16
 *           per output.
 * Tiles     grid (ceil(rows / TILE), HEADS), THREADS = 2 * TILE threads: 4
 *           warps, each owning 16 rows of the block's tile (queries in
 *           attn_fwd and attn_bwd_dq, keys in attn_bwd_dkdv).
 *           Streamed tiles go through STAGES (2 or 3, a tuning knob)
 *           stages of shared memory with cp.async: the copies of tile i +
 *           STAGES - 1 are queued right after the barrier that opens tile
 *           i, so they land while the block computes on tiles i .. i +
 *           STAGES - 2, and one barrier per tile suffices (it both
 *           publishes tile i and retires tile i - 1, whose stage they
 *           reuse). Each tile's copies are one cp.async group, empty past
 *           the last tile, so that waiting for all but the newest STAGES - 2
 *           groups always means tile i.
 *           attn_fwd:  the block's TILE queries stay in registers as mma
 *                      fragments; key tiles of FWD_KN keys (K and V)
 *                      stream through the stages. Q is staged once in the
 *                      last stage, while the first key tiles land in the
 *                      others.
 *           attn_bwd_dq: as attn_fwd, with q and dy in registers (staged
 *                      once in the last stage) and key tiles of DQ_KN;
 *                      with DQ_SRC 2 only K streams (stages of DQ_KN rows)
 *                      and each warp reads its stored granules straight
 *                      into registers, a tile ahead.
 *           attn_bwd_dkdv: the block's TILE keys (K, V) in shared memory,
 *                      query tiles of DKDV_QN (q, dy, and per query lse,
 *                      delta and doc_start) streamed through the stages.
 *                      dK and dV (HD / 4 fp32 each per thread)
 *                      accumulate in registers; K and V fragments are read
 *                      from shared memory per k-step, which leaves room for
 *                      32-query tiles at head_dim 128 (fewer barriers and
 *                      K/V fragment reads per product). No atomics anywhere:
 *                      dq has its own pass (recomputing, or over the stored
 *                      dS), so every output element is written by one
 *                      thread, summed in a fixed order (deterministic).
 *           attn_bwd_pre: PRE_TPR threads per row (a power of two), each
 *                      adding its 16-byte chunks, then a butterfly.
 * Warpgroups FWD_MMA, DKDV_MMA and DQ_MMA (tuning knobs) choose the
 *           products of attn_fwd, attn_bwd_dkdv and attn_bwd_dq (from the
 *           stored dS; its granules are the A operand as stored, zeros
 *           where a warp keeps none): 1, mma.sync per warp (above); 2,
 *           wgmma per warpgroup of 4 warps (64 query rows or keys; sm_90a,
 *           prims.cuh's portable twin elsewhere) with the score products'
 *           operands (Q, K; K, Q and V, dY) all in shared memory and the
 *           second products' A (P; P^T, dS^T) from registers, B (V; dY, Q)
 *           read N-major from the same tiles; attn_fwd's 3 is 2 in three
 *           stages with the next key tile's scores and their softmax
 *           overlapping this tile's P V (the same values in the same
 *           order); attn_bwd_dkdv's 2 computes P^T while dP^T's product
 *           runs and dS^T while dV's does. Warp w keeps rows 16 w .. in
 *           the same fragment layout, so the softmax, the probabilities,
 *           the stored dS and the stores are shared by both forms. On
 *           warpgroups attn_fwd keeps Q in a region of its own (the products
 *           read it at every key tile), every tile is in wgmma's 128-byte
 *           swizzled layout (swz_wg) from the first 1024-byte boundary of
 *           the dynamic shared memory (1 KiB more is asked for), and a
 *           tile's stage is reused only after the barrier that follows the
 *           waits for the products that read it. Head_dim 64 or 128; key
 *           tiles of 64 or 128, query tiles of 32 or 64.
 *           Shared-memory rows are HEAD_DIM wide with their 16-byte chunks
 *           permuted (chunk c of row r at c ^ (r & SWZ)), so that the 8 rows
 *           one ldmatrix reads fall in different banks; every global load
 *           is 16 bytes.
 * Skipping  key s >= first_key(t) for every query of a tile, as first_key is
 *           nondecreasing in t, so a query tile starting at q0 needs the key
 *           tiles first_key(q0) / KN .. last_query / KN only; the rest are
 *           never loaded. With the records' T = 65536 tokens per rank, a
 *           short window of W blocks of 128 visits at most W * 128 / 64 + 2
 *           key tiles of 64 per query tile instead of up to 1024 (e.g. 10
 *           instead of ~512 on average at W = 8); documents cut it further.
 *           attn_bwd_dkdv likewise visits only the query tiles from the key
 *           tile's first key to the last query that sees any of its keys
 *           (the window's end and the document's end, found by a binary
 *           search of doc_start). Masking inside a visited tile is per
 *           element.
 * Launch    THREADS threads, grid (ceil(rows / TILE), HEADS); dynamic shared
 *           memory as kernels.h's dyn_smem_bytes per kernel (above 48 KiB
 *           for attn_fwd and attn_bwd_dkdv at head_dim 128, and for
 *           attn_bwd_dq above it: the launch opts in). rows % BS need not
 *           hold here (tails are masked), though the model's T is a
 *           multiple of BS. Pointers 16-byte aligned; HEAD_DIM % 16 == 0.
 * Placeholders  SUFFIX, HEADS, HEAD_DIM, WIDTH, BLOCK_SIZE, SCALE, TILE,
 *           FWD_KN, DQ_KN, DKDV_QN, DQ_SRC, STAGES, PRE_TPR, VEC (8: bf16 per 16-byte
 *           load), THREADS, MIN_BLOCKS (the blocks per SM that
 *           __launch_bounds__ asks ptxas to leave registers for: a tuning
 *           knob that changes register allocation, never the arithmetic),
 *           FWD_MMA, DKDV_MMA, DQ_MMA (see Warpgroups). And, for each
 *           kernel (FWD, PRE, DKDV, DQ), its name's suffix (FWD_TAG, ...)
 *           and whether it is rendered (FWD_ON, ...): each kernel reads
 *           only some knobs (attn_fwd: TILE, FWD_KN, STAGES, FWD_MMA,
 *           MIN_BLOCKS; attn_bwd_pre: TILE, MIN_BLOCKS; attn_bwd_dkdv:
 *           TILE, DKDV_QN, DQ_SRC, STAGES, DKDV_MMA, MIN_BLOCKS;
 *           attn_bwd_dq: TILE, DQ_KN, DQ_SRC, STAGES, DQ_MMA, MIN_BLOCKS),
 *           so tuning variants that differ elsewhere share it, under one
 *           name, compiled once (compiler/tune/space.c; a test compiles
 *           such pairs and compares their PTX).
 */
#include "prims.cuh"
#include "vec.cuh"

namespace attn_{{SUFFIX}} {

constexpr int H = {{HEADS}}, HD = {{HEAD_DIM}}, ROW = {{WIDTH}}, BS = {{BLOCK_SIZE}};
constexpr int TILE = {{TILE}}, FWD_KN = {{FWD_KN}}, DQ_KN = {{DQ_KN}}, DKDV_QN = {{DKDV_QN}};
constexpr int THREADS = {{THREADS}}, VEC = {{VEC}}, PRE_TPR = {{PRE_TPR}}, DQ_SRC = {{DQ_SRC}};
constexpr int STAGES = {{STAGES}}, FWD_MMA = {{FWD_MMA}}, DKDV_MMA = {{DKDV_MMA}}, DQ_MMA = {{DQ_MMA}};
constexpr int CH = HD / VEC;                                   // 16-byte chunks per row
constexpr int SWZ = ((CH & -CH) < 8 ? (CH & -CH) : 8) - 1;     // a power of two dividing CH, minus 1
constexpr float SCALE = {{SCALE}};
constexpr float LOG2E = 1.44269504088896341f, LN2 = 0.693147180559945309f;
constexpr float SCALE_LOG2 = SCALE * LOG2E;
static_assert(ROW == H * HD && VEC == 8 && HD % 16 == 0, "attention: bad head shape");
static_assert(THREADS == 32 * (TILE / 16) && TILE % 16 == 0, "attention: a warp per 16 rows of the tile");
static_assert(FWD_KN % 16 == 0 && DQ_KN % 16 == 0 && DKDV_QN % 16 == 0, "attention: tiles of 16");
static_assert(PRE_TPR <= 32 && (PRE_TPR & (PRE_TPR - 1)) == 0, "attention: PRE_TPR a power of two");
static_assert(DQ_SRC == 1 || (DQ_SRC == 2 && BS % 16 == 0), "attention: stored dS needs whole granules per block");
static_assert(STAGES == 2 || STAGES == 3, "attention: two or three stages");
static_assert(FWD_MMA == 1 || ((FWD_MMA == 2 || (FWD_MMA == 3 && STAGES == 3)) && (HD == 64 || HD == 128) &&
                               (FWD_KN == 64 || FWD_KN == 128) && TILE % 64 == 0),
              "attention: attn_fwd on warpgroups takes head_dim 64 or 128, key tiles of 64 or 128, 64-row groups "
              "(overlapped: three stages)");
static_assert(DKDV_MMA == 1 || (DKDV_MMA == 2 && (HD == 64 || HD == 128) && (DKDV_QN == 32 || DKDV_QN == 64) &&
                                TILE % 64 == 0),
              "attention: attn_bwd_dkdv on warpgroups takes head_dim 64 or 128, query tiles of 32 or 64");
static_assert(DQ_MMA == 1 || (DQ_MMA == 2 && DQ_SRC == 2 && (HD == 64 || HD == 128) && TILE % 64 == 0),
              "attention: attn_bwd_dq on warpgroups reads the stored dS, at head_dim 64 or 128");

__device__ __forceinline__ float neg_inf() { return __uint_as_float(0xff800000u); }

// The element offset of chunk c of row r in a shared tile (see Tiles).
__device__ __forceinline__ int swz(int r, int c) { return r * HD + ((c ^ (r & SWZ)) << 3); }

// The same in wgmma's layout (prims.cuh, 'Warpgroup products') for a tile
// of N rows: HD / 64 column blocks of N rows x 64, chunk c % 8 of row r of
// a block at (c % 8) ^ (r % 8).
template <int N>
__device__ __forceinline__ int swz_wg(int r, int c) {
    return (c >> 3) * N * 64 + r * 64 + (((c & 7) ^ (r & 7)) << 3);
}

// mma's A fragment: rows r0 .. r0 + 15, columns 16 kk .. 16 kk + 15 of tile s.
__device__ __forceinline__ void frag_a(unsigned f[4], const __nv_bfloat16 *s, int r0, int kk) {
    const int l = (int)gptc_lane();
    ldmatrix_x4(f, s + swz(r0 + (l & 7) + 8 * ((l >> 3) & 1), 2 * kk + (l >> 4)));
}

// B fragments of B = S^T for two n-blocks (rows n0 .. n0 + 15 of tile s,
// which is [n][k]), k = columns 16 kk .. 16 kk + 15: f[0..1] for n0 .. n0 + 7,
// f[2..3] for n0 + 8 .. n0 + 15.
__device__ __forceinline__ void frag_bt(unsigned f[4], const __nv_bfloat16 *s, int n0, int kk) {
    const int l = (int)gptc_lane();
    ldmatrix_x4(f, s + swz(n0 + (l & 7) + 8 * (l >> 4), 2 * kk + ((l >> 3) & 1)));
}

// B fragments of B = S (tile s is [k][n]): k = rows 16 kk .. 16 kk + 15,
// n = chunks nc and nc + 1 (f[0..1] and f[2..3]).
__device__ __forceinline__ void frag_b(unsigned f[4], const __nv_bfloat16 *s, int kk, int nc) {
    const int l = (int)gptc_lane();
    ldmatrix_x4_trans(f, s + swz(16 * kk + (l & 7) + 8 * ((l >> 3) & 1), nc + (l >> 4)));
}

__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<unsigned *>(&v);
}

// The A fragment of k-step j from accumulators c (n-blocks 2j and 2j + 1):
// an accumulator's layout is the A operand's, two n-blocks per k-step.
__device__ __forceinline__ void acc_to_a(unsigned a[4], const float c0[4], const float c1[4]) {
    a[0] = pack_bf16(c0[0], c0[1]);
    a[1] = pack_bf16(c0[2], c0[3]);
    a[2] = pack_bf16(c1[0], c1[1]);
    a[3] = pack_bf16(c1[2], c1[3]);
}

// acc[N / 8][4] += A (16 x 16 kk-steps of a) times the N rows of tile s,
// transposed: a warp's 16 rows against N keys (or queries).
template <int N>
__device__ __forceinline__ void mma_rows_t(float acc[][4], const unsigned a[4], const __nv_bfloat16 *s, int kk) {
    for (int nb = 0; nb < N / 8; nb += 2) {
        unsigned b[4];
        frag_bt(b, s, 8 * nb, kk);
        mma_bf16_16816(acc[nb], a, b, acc[nb]);
        mma_bf16_16816(acc[nb + 1], a, b + 2, acc[nb + 1]);
    }
}

// acc[HD / 8][4] += A (k-step j) times rows 16 j .. 16 j + 15 of tile s.
__device__ __forceinline__ void mma_cols(float acc[][4], const unsigned a[4], const __nv_bfloat16 *s, int j) {
    for (int dn = 0; dn < HD / 8; dn += 2) {
        unsigned b[4];
        frag_b(b, s, j, dn);
        mma_bf16_16816(acc[dn], a, b, acc[dn]);
        mma_bf16_16816(acc[dn + 1], a, b + 2, acc[dn + 1]);
    }
}

// The first key query t sees (runtime/ref/attention.h's first_key); no
// overflow for any window_blocks.
__device__ __forceinline__ int first_key_of(int doc, int t, int window_blocks) {
    const int blk = t / BS - window_blocks + 1;
    const int lo = blk > 0 ? blk * BS : 0;
    return doc > lo ? doc : lo;
}
__device__ __forceinline__ int first_key(const int *doc_start, int t, int window_blocks) {
    return first_key_of(doc_start[t], t, window_blocks);
}

// Rows r0 .. r0 + N - 1 of head h of a [rows, ROW] tensor into tile s
// (in wgmma's layout if WG), with cp.async: the copies land while the block
// computes; cp_async_wait and a barrier make them visible. Zeros past
// `rows` (a tail tile's rows are then harmless zeros).
template <int N, bool WG = false>
__device__ __forceinline__ void load_tile_async(__nv_bfloat16 *s, const __nv_bfloat16 *g, int r0, int rows, int h) {
    for (int i = (int)threadIdx.x; i < N * CH; i += THREADS) {
        const int r = i / CH, c = i % CH;
        const bool in = r0 + r < rows;
        cp_async_16(s + (WG ? swz_wg<N>(r, c) : swz(r, c)), g + (long long)(in ? r0 + r : 0) * ROW + h * HD + c * VEC,
                    in);
    }
}

// Key-tile stage b (0 .. STAGES - 1) of attn_fwd and attn_bwd_dq: K then
// V, KN rows each, at the start of shared memory; the block's own rows (q,
// dy) are staged once, at the last stage, before any key tile goes there.
template <int KN>
__device__ __forceinline__ __nv_bfloat16 *kv_stage(__nv_bfloat16 *smem, int b) {
    return smem + 2 * b * KN * HD;
}

// Queues the copies of key tile k0 .. k0 + KN - 1 (K and V) into stage st.
template <int KN, bool WG = false>
__device__ __forceinline__ void kv_stage_async(__nv_bfloat16 *st, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                                               int k0, int rows, int h) {
    load_tile_async<KN, WG>(st, k, k0, rows, h);
    load_tile_async<KN, WG>(st + KN * HD, v, k0, rows, h);
}

// One query tile's stage of attn_bwd_dkdv, in shared memory: its q and dy
// rows (tiles of DKDV_QN rows, swizzled) and per query lse[h, t],
// delta[h, t] and doc_start[t] (zeros past `rows`).
struct DkdvStage {
    __nv_bfloat16 *q, *dy;
    float *lse, *delta;
    int *doc;
};

// Stage b (0 .. STAGES - 1) of those after K and V in shared memory: so
// that the copies of the next query tiles land while the block computes on
// this one.
__device__ __forceinline__ DkdvStage dkdv_stage(__nv_bfloat16 *smem, int b) {
    float *vals = reinterpret_cast<float *>(smem + (2 * TILE + 2 * STAGES * DKDV_QN) * HD) + 3 * b * DKDV_QN;
    DkdvStage st;
    st.q = smem + (2 * TILE + 2 * b * DKDV_QN) * HD;
    st.dy = st.q + DKDV_QN * HD;
    st.lse = vals;
    st.delta = vals + DKDV_QN;
    st.doc = reinterpret_cast<int *>(vals + 2 * DKDV_QN);
    return st;
}

// Queues the copies of query tile qs .. qs + DKDV_QN - 1 into stage st
// (q and dY in wgmma's layout if WG).
template <bool WG = false>
__device__ __forceinline__ void dkdv_stage_async(const DkdvStage &st, const __nv_bfloat16 *q,
                                                 const __nv_bfloat16 *dy, const float *lse, const float *delta,
                                                 const int *doc_start, int qs, int rows, int h) {
    load_tile_async<DKDV_QN, WG>(st.q, q, qs, rows, h);
    load_tile_async<DKDV_QN, WG>(st.dy, dy, qs, rows, h);
    for (int i = (int)threadIdx.x; i < 3 * DKDV_QN; i += THREADS) {
        const int which = i / DKDV_QN, j = i % DKDV_QN;
        const bool in = qs + j < rows;
        const long long t = in ? qs + j : 0;
        if (which == 0) cp_async_4(st.lse + j, lse + (long long)h * rows + t, in);
        else if (which == 1) cp_async_4(st.delta + j, delta + (long long)h * rows + t, in);
        else cp_async_4(st.doc + j, doc_start + t, in);
    }
}

// Writes a warp's 16 x HD accumulator rows (this lane's rows ra and ra + 8)
// as bf16, each multiplied by mul[r]; rows past `rows` are not written.
__device__ __forceinline__ void store_rows(__nv_bfloat16 *out, const float acc[][4], int ra, int rows, int h,
                                           const float mul[2]) {
    const int t4 = (int)(gptc_lane() & 3u);
    for (int r = 0; r < 2; r++) {
        const int row = ra + 8 * r;
        if (row >= rows) continue;
        __nv_bfloat16 *o = out + (long long)row * ROW + h * HD + 2 * t4;
        for (int dn = 0; dn < HD / 8; dn++) st_bf16x2(o + 8 * dn, acc[dn][2 * r] * mul[r], acc[dn][2 * r + 1] * mul[r]);
    }
}

// The element offset of stored-dS granule (h, qb, slot) (see dQ's two
// sources).
__device__ __forceinline__ long long ds_offset(int h, int qb, int slot, int rows, int ds_slots) {
    const long long nqb = (rows + 15) / 16;
    return ((h * nqb + qb) * ds_slots + slot) * 256;
}

// Whether query granule qb keeps key granule kb, kbf its first (see dQ's
// two sources): the only granules attn_bwd_dkdv stores and attn_bwd_dq
// reads.
__device__ __forceinline__ bool ds_kept(int kb, int kbf, int qb) { return kb >= kbf && kb <= qb; }

// attn_bwd_dkdv's store of one granule: a holds dS^T for the warp's 16 keys
// (from key0) and queries t0 .. t0 + 15 as an A fragment (a[0] keys g,
// queries 2t..; a[1] keys g + 8; a[2], a[3] the queries 8 further on);
// transposed, a[0] gives queries g, keys 2t.. (the A fragment's a[0]),
// a[1] its a[2], a[2] its a[1]. Only the granules attn_bwd_dq reads are
// written; the test is warp-uniform (doc is t0's doc_start).
__device__ __forceinline__ void store_ds(__nv_bfloat16 *ds, const unsigned a[4], int doc, int t0, int key0,
                                         int window_blocks, int rows, int h, int ds_slots) {
    const int qb = t0 / 16, kb = key0 / 16, kbf = first_key_of(doc, t0, window_blocks) / 16;
    if (t0 >= rows || !ds_kept(kb, kbf, qb)) return;
    const unsigned x0 = movmatrix_trans(a[0]), x1 = movmatrix_trans(a[1]);
    const unsigned x2 = movmatrix_trans(a[2]), x3 = movmatrix_trans(a[3]);
    *reinterpret_cast<uint4 *>(ds + ds_offset(h, qb, kb - kbf, rows, ds_slots) + 8 * gptc_lane()) =
        make_uint4(x0, x2, x1, x3);
}

// attn_bwd_dq's stored granules for key granules kb0 .. kb0 + DQ_KN / 16 -
// 1 of query granule qb, this lane's 16 bytes of each (zeros for a granule
// the warp does not read: none was stored).
__device__ __forceinline__ void load_ds_tile(uint4 g[DQ_KN / 16], const __nv_bfloat16 *ds, int kb0, bool live, int qb,
                                             int kbf, int h, int rows, int ds_slots) {
    for (int j = 0; j < DQ_KN / 16; j++) {
        const int kb = kb0 + j;
        g[j] = live && ds_kept(kb, kbf, qb)
                   ? *reinterpret_cast<const uint4 *>(ds + ds_offset(h, qb, kb - kbf, rows, ds_slots) + 8 * gptc_lane())
                   : make_uint4(0u, 0u, 0u, 0u);
    }
}

// The max (sum) over the 4 lanes of a quad, which hold one row's columns;
// the same bits on each (the butterfly is commutative).
__device__ __forceinline__ float quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(GPTC_FULL_MASK, x, 1));
    return fmaxf(x, __shfl_xor_sync(GPTC_FULL_MASK, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(GPTC_FULL_MASK, x, 1);
    return x + __shfl_xor_sync(GPTC_FULL_MASK, x, 2);
}


// One key tile of attn_fwd's online softmax, on the scores alone: masks
// the scores s of this lane's rows ra and ra + 8 against keys k0 .., scales
// them to base 2, moves the running max m (base 2) to the new max, leaves
// exp2(s - max) in s, and the lane's sum l rescaled and added to; alpha is
// what the output's rows must be multiplied by (rescale) before this tile's
// P V is added to them.
template <int KN>
__device__ __forceinline__ void softmax_scores(float s[][4], float m[2], float l[2], float alpha[2], int k0,
                                               const int lo[2], int ra) {
    const int t4 = (int)(gptc_lane() & 3u);
    float mx[2] = {m[0], m[1]};
    for (int nb = 0; nb < KN / 8; nb++)
        for (int e = 0; e < 4; e++) {
            const int key = k0 + 8 * nb + 2 * t4 + (e & 1), r = e >> 1;
            s[nb][e] = key >= lo[r] && key <= ra + 8 * r ? s[nb][e] * SCALE_LOG2 : neg_inf();
            mx[r] = fmaxf(mx[r], s[nb][e]);
        }
    float base[2];
    for (int r = 0; r < 2; r++) {
        mx[r] = quad_max(mx[r]);
        // A row with nothing visible yet keeps max -inf: exponents
        // relative to 0 then give exp2(-inf) = 0, never inf - inf.
        base[r] = mx[r] == neg_inf() ? 0.0f : mx[r];
        alpha[r] = exp2f(m[r] - base[r]);
        m[r] = mx[r];
        l[r] *= alpha[r];
    }
    for (int nb = 0; nb < KN / 8; nb++)
        for (int e = 0; e < 4; e++) {
            s[nb][e] = exp2f(s[nb][e] - base[e >> 1]);
            l[e >> 1] += s[nb][e];
        }
}

// The output's rows (NV / 8 n-blocks of this lane's rows ra, ra + 8)
// multiplied by alpha.
template <int NV>
__device__ __forceinline__ void rescale(float o[][4], const float alpha[2]) {
    for (int dn = 0; dn < NV / 8; dn++)
        for (int e = 0; e < 4; e++) o[dn][e] *= alpha[e >> 1];
}

// softmax_scores, then the output rescaled: one key tile's softmax where
// the tile's P V follows it at once.
template <int KN>
__device__ __forceinline__ void softmax_tile(float s[][4], float m[2], float l[2], float o[][4], int k0,
                                             const int lo[2], int ra) {
    float alpha[2];
    softmax_scores<KN>(s, m, l, alpha, k0, lo, ra);
    rescale<HD>(o, alpha);
}

// The first key each of this lane's rows ra and ra + 8 sees; a row past
// `rows` sees nothing: lo = rows is above every key.
__device__ __forceinline__ void row_first_keys(int lo[2], const int *doc_start, int ra, int window_blocks, int rows) {
    for (int r = 0; r < 2; r++) lo[r] = ra + 8 * r < rows ? first_key(doc_start, ra + 8 * r, window_blocks) : rows;
}

// attn_fwd's end: lse and y = o / l for this lane's rows.
__device__ __forceinline__ void fwd_store(__nv_bfloat16 *y, float *lse, const float o[][4], const float m[2],
                                          float l[2], int ra, int rows, int h) {
    float inv[2];
    for (int r = 0; r < 2; r++) {
        l[r] = quad_sum(l[r]);
        inv[r] = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        const int row = ra + 8 * r;
        if (row < rows && (gptc_lane() & 3u) == 0) lse[(long long)h * rows + row] = (m[r] + log2f(l[r])) * LN2;
    }
    store_rows(y, o, ra, rows, h, inv);
}

// attn_fwd per warp (FWD_MMA 1): mma.sync on each warp's 16 query rows.
__device__ __forceinline__ void fwd_warps(__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q,
                                          const __nv_bfloat16 *k, const __nv_bfloat16 *v, const int *doc_start,
                                          int window_blocks, int rows) {
    GPTC_DYN_SMEM(__nv_bfloat16, smem);
    const int h = (int)blockIdx.y, q0 = (int)blockIdx.x * TILE, w = (int)(threadIdx.x >> 5);
    const int ra = q0 + 16 * w + (int)(gptc_lane() >> 2);
    const int last = (q0 + TILE < rows ? q0 + TILE : rows) - 1;
    const int kfirst = first_key(doc_start, q0, window_blocks) / FWD_KN, kend = last / FWD_KN;
    // Q through the last stage into registers, once, while the first key
    // tiles land in the others; the loop's first barrier retires Q before
    // a key tile reuses its stage.
    __nv_bfloat16 *sq = kv_stage<FWD_KN>(smem, STAGES - 1);
    load_tile_async<TILE>(sq, q, q0, rows, h);
    cp_async_commit();
    for (int st = 0; st < STAGES - 1; st++) {
        if (kfirst + st <= kend) kv_stage_async<FWD_KN>(kv_stage<FWD_KN>(smem, st), k, v, (kfirst + st) * FWD_KN, rows, h);
        cp_async_commit();
    }
    int lo[2];
    row_first_keys(lo, doc_start, ra, window_blocks, rows);
    cp_async_wait<STAGES - 1>();  // Q's group; the key tiles' may still be in flight
    __syncthreads();
    unsigned qf[HD / 16][4];
    for (int kk = 0; kk < HD / 16; kk++) frag_a(qf[kk], sq, 16 * w, kk);
    float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};  // running max (base 2) and this lane's sum
    float o[HD / 8][4] = {};
    for (int kt = kfirst; kt <= kend; kt++) {
        const int k0 = kt * FWD_KN;
        const __nv_bfloat16 *sk = kv_stage<FWD_KN>(smem, (kt - kfirst) % STAGES), *sv = sk + FWD_KN * HD;
        // Tile kt has landed for every thread (later ones may be in
        // flight), and every warp is done with tile kt - 1 (or Q), whose
        // stage the copies of tile kt + STAGES - 1 reuse.
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (kt + STAGES - 1 <= kend)
            kv_stage_async<FWD_KN>(kv_stage<FWD_KN>(smem, (kt + STAGES - 1 - kfirst) % STAGES), k, v,
                                   k0 + (STAGES - 1) * FWD_KN, rows, h);
        cp_async_commit();
        float s[FWD_KN / 8][4] = {};
        for (int kk = 0; kk < HD / 16; kk++) mma_rows_t<FWD_KN>(s, qf[kk], sk, kk);
        softmax_tile<FWD_KN>(s, m, l, o, k0, lo, ra);
        for (int j = 0; j < FWD_KN / 16; j++) {
            unsigned a[4];
            acc_to_a(a, s[2 * j], s[2 * j + 1]);
            mma_cols(o, a, sv, j);
        }
    }
    fwd_store(y, lse, o, m, l, ra, rows, h);
}

// attn_fwd per warpgroup (FWD_MMA 2 and 3, wgmma on sm_90a): each group of
// 4 warps takes 64 query rows (warp w still owns rows 16 w .., in the same
// fragment layout, so the softmax and the store are the warp form's).
// S = Q K^T is one wgmma per k-step with Q and K in shared memory, O += P V
// one per 16 keys with P from registers (S's accumulators are already
// mma's A fragments) and V N-major in shared memory. Q keeps a region of
// its own (the products read it from shared memory at every tile), then
// STAGES stages of K and V, all in wgmma's layout from the first 1024-byte
// boundary (dyn_smem_bytes adds 1 KiB for it). A tile's stage is reused
// only after the barrier that follows the waits for the products that
// read it. KN and NV are FWD_KN and HD, as template parameters so that
// nothing of it is instantiated where attn_fwd takes the warp form.
struct FwdGroup {
    __nv_bfloat16 *sq, *skv;  // Q's region, the stages of K and V
    const __nv_bfloat16 *sq_group;  // the group's 64 rows of Q's column block 0
    int h, ra, kfirst, kend, lo[2];
};

// The block's tiles and rows; queues the copies of Q and of the first
// STAGES - 1 key tiles (one group each, empty past the last tile).
template <int KN>
__device__ __forceinline__ FwdGroup fwd_group_start(const __nv_bfloat16 *q, const __nv_bfloat16 *k,
                                                    const __nv_bfloat16 *v, const int *doc_start, int window_blocks,
                                                    int rows) {
    GPTC_DYN_SMEM(unsigned char, raw);
    FwdGroup g;
    g.sq = reinterpret_cast<__nv_bfloat16 *>(wg_align(raw));
    g.skv = g.sq + TILE * HD;
    g.h = (int)blockIdx.y;
    const int q0 = (int)blockIdx.x * TILE, w = (int)(threadIdx.x >> 5);
    g.ra = q0 + 16 * w + (int)(gptc_lane() >> 2);
    g.sq_group = g.sq + (w >> 2) * 64 * 64;
    const int last = (q0 + TILE < rows ? q0 + TILE : rows) - 1;
    g.kfirst = first_key(doc_start, q0, window_blocks) / KN, g.kend = last / KN;
    load_tile_async<TILE, true>(g.sq, q, q0, rows, g.h);
    cp_async_commit();
    for (int st = 0; st < STAGES - 1; st++) {
        if (g.kfirst + st <= g.kend)
            kv_stage_async<KN, true>(g.skv + 2 * st * KN * HD, k, v, (g.kfirst + st) * KN, rows, g.h);
        cp_async_commit();
    }
    row_first_keys(g.lo, doc_start, g.ra, window_blocks, rows);
    return g;
}

// Key tile kt's stage: K, then V KN rows further on.
template <int KN>
__device__ __forceinline__ __nv_bfloat16 *fwd_group_stage(const FwdGroup &g, int kt) {
    return g.skv + 2 * ((kt - g.kfirst) % STAGES) * KN * HD;
}

// Queues the copies of key tile kt into its stage when it exists, and
// closes a group either way (the waits count one group per tile).
template <int KN>
__device__ __forceinline__ void fwd_group_prefetch(const FwdGroup &g, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                                                   int kt, int rows) {
    if (kt <= g.kend) kv_stage_async<KN, true>(fwd_group_stage<KN>(g, kt), k, v, kt * KN, rows, g.h);
    cp_async_commit();
}

// Issues S = Q K^T for the group's rows and key tile sk as one batch.
template <int KN>
__device__ __forceinline__ void fwd_scores(float s[][4], const FwdGroup &g, const __nv_bfloat16 *sk) {
    for (int nb = 0; nb < KN / 8; nb++) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
    wg_keep<KN / 8>(s);
    wg_fence();
    // k-step kk: column block kk / 4, 16 columns (32 bytes) in per kk % 4
    for (int kk = 0; kk < HD / 16; kk++)
        wgmma_ss<KN>(s, wg_desc(g.sq_group + (kk >> 2) * TILE * 64 + (kk & 3) * 16, 16, 1024),
                     wg_desc(sk + (kk >> 2) * KN * 64 + (kk & 3) * 16, 16, 1024), kk > 0);
    wg_commit();
}

// Issues O += P V for key tile sv's V as one batch.
template <int KN, int NV>
__device__ __forceinline__ void fwd_values(float o[][4], unsigned p[][4], const __nv_bfloat16 *sv) {
    wg_keep<NV / 8>(o);
    wg_keep<KN / 16>(p);
    wg_fence();
    // keys 16 j .. 16 j + 15: rows 16 j .. of V, column blocks KN * 128 bytes apart
    for (int j = 0; j < KN / 16; j++) wgmma_rs_tb<NV>(o, p[j], wg_desc(sv + j * 16 * 64, KN * 128, 1024), true);
    wg_commit();
}

// The probabilities s as P, A fragments of 16 keys each.
template <int KN>
__device__ __forceinline__ void fwd_probs(unsigned p[][4], float s[][4]) {
    for (int j = 0; j < KN / 16; j++) acc_to_a(p[j], s[2 * j], s[2 * j + 1]);
}

// FWD_MMA 2: each tile's products are waited for before their results are
// used.
template <int KN, int NV>
__device__ __forceinline__ void fwd_groups(__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q,
                                           const __nv_bfloat16 *k, const __nv_bfloat16 *v, const int *doc_start,
                                           int window_blocks, int rows) {
    const FwdGroup g = fwd_group_start<KN>(q, k, v, doc_start, window_blocks, rows);
    float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};
    float o[NV / 8][4] = {}, s[KN / 8][4];
    unsigned p[KN / 16][4];
    for (int kt = g.kfirst; kt <= g.kend; kt++) {
        const __nv_bfloat16 *sk = fwd_group_stage<KN>(g, kt);
        // Q and tile kt have landed (groups: Q's, then one per tile), in
        // view of wgmma's reads; every group is done with tile kt - 1.
        cp_async_wait<STAGES - 2>();
        fence_proxy_async();
        __syncthreads();
        fwd_group_prefetch<KN>(g, k, v, kt + STAGES - 1, rows);
        fwd_scores<KN>(s, g, sk);
        wg_wait<0>();
        wg_keep<KN / 8>(s);
        softmax_tile<KN>(s, m, l, o, kt * KN, g.lo, g.ra);
        fwd_probs<KN>(p, s);
        fwd_values<KN, NV>(o, p, sk + KN * HD);
        wg_wait<0>();
        wg_keep<NV / 8>(o);
        wg_keep<KN / 16>(p);
    }
    fwd_store(y, lse, o, m, l, g.ra, rows, g.h);
}

// FWD_MMA 3 (in 3 stages): the next tile's scores are in flight while this
// tile's P V is, and its softmax runs while P V does (FlashAttention-3's
// overlap within a warpgroup): at tile kt the batch S(kt + 1) goes first,
// then O += P(kt) V(kt); once S(kt + 1) is done (wg_wait<1>) its softmax
// computes the new max, sum and probabilities, and the rescale of O by the
// change of max waits for P V (wg_wait<0>). Every value is the
// one FWD_MMA 2 computes, in the same order: O * alpha(kt) + P(kt) V(kt),
// then times alpha(kt + 1). Tile kt + 1 must have landed at tile kt, so
// the stage of tile kt - 1 takes tile kt + 2: three stages, one barrier a
// tile.
template <int KN, int NV>
__device__ __forceinline__ void fwd_groups_overlap(__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q,
                                                   const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                                                   const int *doc_start, int window_blocks, int rows) {
    const FwdGroup g = fwd_group_start<KN>(q, k, v, doc_start, window_blocks, rows);
    float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f}, alpha[2];
    float o[NV / 8][4] = {}, s[KN / 8][4];
    unsigned p[KN / 16][4];
    // Q and the first tile have landed; its scores and probabilities (O is
    // still zero: nothing to rescale).
    cp_async_wait<STAGES - 2>();
    fence_proxy_async();
    __syncthreads();
    fwd_scores<KN>(s, g, fwd_group_stage<KN>(g, g.kfirst));
    wg_wait<0>();
    wg_keep<KN / 8>(s);
    softmax_scores<KN>(s, m, l, alpha, g.kfirst * KN, g.lo, g.ra);
    fwd_probs<KN>(p, s);
    for (int kt = g.kfirst; kt < g.kend; kt++) {
        // Tile kt + 1 has landed, in view of wgmma's reads; every group is
        // done with tile kt - 1, whose stage tile kt + 2 takes.
        cp_async_wait<0>();
        fence_proxy_async();
        __syncthreads();
        fwd_group_prefetch<KN>(g, k, v, kt + 2, rows);
        fwd_scores<KN>(s, g, fwd_group_stage<KN>(g, kt + 1));
        fwd_values<KN, NV>(o, p, fwd_group_stage<KN>(g, kt) + KN * HD);
        wg_wait<1>();
        wg_keep<KN / 8>(s);
        softmax_scores<KN>(s, m, l, alpha, (kt + 1) * KN, g.lo, g.ra);
        wg_wait<0>();
        wg_keep<NV / 8>(o);
        wg_keep<KN / 16>(p);
        rescale<NV>(o, alpha);
        fwd_probs<KN>(p, s);
    }
    // The last tile's P V (its tile landed before the loop's last scores).
    fwd_values<KN, NV>(o, p, fwd_group_stage<KN>(g, g.kend) + KN * HD);
    wg_wait<0>();
    wg_keep<NV / 8>(o);
    wg_keep<KN / 16>(p);
    fwd_store(y, lse, o, m, l, g.ra, rows, g.h);
}

// attn_fwd in the form FWD_MMA names (a template, so that only that form
// is instantiated).
template <int MMA>
__device__ __forceinline__ void fwd(__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q, const __nv_bfloat16 *k,
                                   const __nv_bfloat16 *v, const int *doc_start, int window_blocks, int rows) {
    if constexpr (MMA == 3) fwd_groups_overlap<FWD_KN, HD>(y, lse, q, k, v, doc_start, window_blocks, rows);
    else if constexpr (MMA == 2) fwd_groups<FWD_KN, HD>(y, lse, q, k, v, doc_start, window_blocks, rows);
    else fwd_warps(y, lse, q, k, v, doc_start, window_blocks, rows);
}

}  // namespace attn_{{SUFFIX}}

#if {{FWD_ON}}
extern "C" __global__ void __launch_bounds__({{THREADS}}, {{MIN_BLOCKS}})
attn_fwd_{{FWD_TAG}}(__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q, const __nv_bfloat16 *k,
                    const __nv_bfloat16 *v, const int *doc_start, int window_blocks, int rows) {
    using namespace attn_{{SUFFIX}};
    fwd<FWD_MMA>(y, lse, q, k, v, doc_start, window_blocks, rows);
}
#endif

#if {{PRE_ON}}
extern "C" __global__ void __launch_bounds__({{THREADS}}, {{MIN_BLOCKS}})
attn_bwd_pre_{{PRE_TAG}}(float *delta, const __nv_bfloat16 *dy, const __nv_bfloat16 *y, int rows) {
    using namespace attn_{{SUFFIX}};
    const int h = (int)blockIdx.y, j = (int)threadIdx.x % PRE_TPR;
    for (int r0 = 0; r0 < TILE; r0 += THREADS / PRE_TPR) {
        const int row = (int)blockIdx.x * TILE + r0 + (int)threadIdx.x / PRE_TPR;
        float acc = 0.0f;
        for (int c = j; row < rows && c < CH; c += PRE_TPR) {
            const long long at = (long long)row * ROW + h * HD + c * VEC;
            const Vec<__nv_bfloat162, VEC / 2> a = vec_load<__nv_bfloat162, VEC / 2>(
                reinterpret_cast<const __nv_bfloat162 *>(dy + at));
            const Vec<__nv_bfloat162, VEC / 2> b = vec_load<__nv_bfloat162, VEC / 2>(
                reinterpret_cast<const __nv_bfloat162 *>(y + at));
            for (int e = 0; e < VEC / 2; e++) {
                const float2 fa = __bfloat1622float2(a.v[e]), fb = __bfloat1622float2(b.v[e]);
                acc += fa.x * fb.x;
                acc += fa.y * fb.y;
            }
        }
        acc = group_sum<PRE_TPR>(acc);
        if (row < rows && j == 0) delta[(long long)h * rows + row] = acc;
    }
}
#endif

namespace attn_{{SUFFIX}} {

// The last query tile (of DKDV_QN) with a query that sees a key of k0 ..
// klast: first_key(t) <= klast needs the window's (t / BS - W + 1) * BS <=
// klast and doc_start[t] <= klast, both monotone in t.
__device__ __forceinline__ int dkdv_last_tile(const int *doc_start, int klast, int window_blocks, int rows) {
    const long long wend = ((long long)(klast / BS) + window_blocks) * BS - 1;
    int lo = klast, hi = rows - 1;  // the document's end: the last t with doc_start[t] <= klast
    while (lo < hi) {
        const int mid = lo + (hi - lo + 1) / 2;
        if (doc_start[mid] <= klast) lo = mid;
        else hi = mid - 1;
    }
    return (wend < lo ? (int)wend : lo) / DKDV_QN;
}

// attn_bwd_dkdv's scores to probabilities for this lane's keys ka and ka +
// 8 against queries qs .. of stage cur: s (k . q) becomes p, transposed
// (rows keys).
template <int QN>
__device__ __forceinline__ void dkdv_p(float s[][4], const DkdvStage &cur, int qs, int ka, int window_blocks,
                                       int rows) {
    const int t4 = (int)(gptc_lane() & 3u);
    for (int nb = 0; nb < QN / 8; nb++)
        for (int c = 0; c < 2; c++) {
            const int j = 8 * nb + 2 * t4 + c, t = qs + j;
            const int first = t < rows ? first_key_of(cur.doc[j], t, window_blocks) : rows;
            const float lse2 = t < rows ? cur.lse[j] * LOG2E : 0.0f;
            for (int r = 0; r < 2; r++) {
                const int key = ka + 8 * r, e = 2 * r + c;
                s[nb][e] = key >= first && key <= t ? exp2f(s[nb][e] * SCALE_LOG2 - lse2) : 0.0f;
            }
        }
}

// ... and dp (v . dy) to ds = p (dp - delta) SCALE, with p from dkdv_p.
template <int QN>
__device__ __forceinline__ void dkdv_ds(float dp[][4], const float p[][4], const DkdvStage &cur, int qs, int rows) {
    const int t4 = (int)(gptc_lane() & 3u);
    for (int nb = 0; nb < QN / 8; nb++)
        for (int c = 0; c < 2; c++) {
            const int j = 8 * nb + 2 * t4 + c;
            const float dl = qs + j < rows ? cur.delta[j] : 0.0f;
            for (int r = 0; r < 2; r++) dp[nb][2 * r + c] = p[nb][2 * r + c] * (dp[nb][2 * r + c] - dl) * SCALE;
        }
}

// Both, where the two products are done together (the warp form).
template <int QN>
__device__ __forceinline__ void dkdv_probs(float s[][4], float dp[][4], const DkdvStage &cur, int qs, int ka,
                                           int window_blocks, int rows) {
    dkdv_p<QN>(s, cur, qs, ka, window_blocks, rows);
    dkdv_ds<QN>(dp, s, cur, qs, rows);
}

// attn_bwd_dkdv per warp (DKDV_MMA 1): mma.sync on each warp's 16 keys.
__device__ __forceinline__ void dkdv_warps(__nv_bfloat16 *dk, __nv_bfloat16 *dv, __nv_bfloat16 *ds,
                                           const __nv_bfloat16 *dy, const float *lse, const float *delta,
                                           const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                                           const int *doc_start, int window_blocks, int ds_slots, int rows) {
    GPTC_DYN_SMEM(__nv_bfloat16, smem);
    __nv_bfloat16 *sk = smem, *sv = smem + TILE * HD;
    const int h = (int)blockIdx.y, k0 = (int)blockIdx.x * TILE, w = (int)(threadIdx.x >> 5);
    const int ka = k0 + 16 * w + (int)(gptc_lane() >> 2);
    const int qfirst = k0 / DKDV_QN;
    load_tile_async<TILE>(sk, k, k0, rows, h);
    load_tile_async<TILE>(sv, v, k0, rows, h);
    dkdv_stage_async(dkdv_stage(smem, 0), q, dy, lse, delta, doc_start, qfirst * DKDV_QN, rows, h);
    cp_async_commit();
    const int qend = dkdv_last_tile(doc_start, (k0 + TILE < rows ? k0 + TILE : rows) - 1, window_blocks, rows);
    for (int st = 1; st < STAGES - 1; st++) {
        if (qfirst + st <= qend)
            dkdv_stage_async(dkdv_stage(smem, st), q, dy, lse, delta, doc_start, (qfirst + st) * DKDV_QN, rows, h);
        cp_async_commit();
    }
    float dka[HD / 8][4] = {}, dva[HD / 8][4] = {};
    for (int qt = qfirst; qt <= qend; qt++) {
        const int qs = qt * DKDV_QN;
        const DkdvStage cur = dkdv_stage(smem, (qt - qfirst) % STAGES);
        // Tile qt has landed for every thread (later ones may be in
        // flight), and every warp is done with tile qt - 1, whose stage the
        // copies of tile qt + STAGES - 1 now reuse.
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (qt + STAGES - 1 <= qend)
            dkdv_stage_async(dkdv_stage(smem, (qt + STAGES - 1 - qfirst) % STAGES), q, dy, lse, delta, doc_start,
                             qs + (STAGES - 1) * DKDV_QN, rows, h);
        cp_async_commit();
        float s[DKDV_QN / 8][4] = {}, dp[DKDV_QN / 8][4] = {};  // transposed: rows keys, columns queries
        for (int kk = 0; kk < HD / 16; kk++) {
            unsigned a[4];
            frag_a(a, sk, 16 * w, kk);
            mma_rows_t<DKDV_QN>(s, a, cur.q, kk);
            frag_a(a, sv, 16 * w, kk);
            mma_rows_t<DKDV_QN>(dp, a, cur.dy, kk);
        }
        dkdv_probs<DKDV_QN>(s, dp, cur, qs, ka, window_blocks, rows);
        for (int j = 0; j < DKDV_QN / 16; j++) {
            unsigned a[4];
            acc_to_a(a, s[2 * j], s[2 * j + 1]);
            mma_cols(dva, a, cur.dy, j);
            acc_to_a(a, dp[2 * j], dp[2 * j + 1]);
            mma_cols(dka, a, cur.q, j);
            if (DQ_SRC == 2)
                store_ds(ds, a, cur.doc[16 * j], qs + 16 * j, k0 + 16 * w, window_blocks, rows, h, ds_slots);
        }
    }
    const float one[2] = {1.0f, 1.0f};
    store_rows(dk, dka, ka, rows, h, one);
    store_rows(dv, dva, ka, rows, h, one);
}

// attn_bwd_dkdv per warpgroup (DKDV_MMA 2, wgmma on sm_90a): each group of
// 4 warps takes 64 keys (warp w still owns keys 16 w .., in the same
// fragment layout, so the probabilities, the stored dS and the stores are
// the warp form's). S^T = K Q^T and dP^T = V dY^T are one wgmma each per
// k-step, K, V, Q and dY in shared memory; dV += P^T dY and dK += dS^T Q
// one each per 16 queries, P^T and dS^T from registers, dY and Q read
// N-major from the same tiles. Shared memory as the warp form's, in
// wgmma's layout from the first 1024-byte boundary. QN and NV are DKDV_QN
// and HD, as template parameters (see fwd_groups).
template <int QN, int NV>
__device__ __forceinline__ void dkdv_groups(__nv_bfloat16 *dk, __nv_bfloat16 *dv, __nv_bfloat16 *ds,
                                            const __nv_bfloat16 *dy, const float *lse, const float *delta,
                                            const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                                            const int *doc_start, int window_blocks, int ds_slots, int rows) {
    GPTC_DYN_SMEM(unsigned char, raw);
    __nv_bfloat16 *smem = reinterpret_cast<__nv_bfloat16 *>(wg_align(raw));
    __nv_bfloat16 *sk = smem, *sv = smem + TILE * HD;
    const int h = (int)blockIdx.y, k0 = (int)blockIdx.x * TILE, w = (int)(threadIdx.x >> 5);
    const int ka = k0 + 16 * w + (int)(gptc_lane() >> 2);
    const int qfirst = k0 / QN;
    load_tile_async<TILE, true>(sk, k, k0, rows, h);
    load_tile_async<TILE, true>(sv, v, k0, rows, h);
    dkdv_stage_async<true>(dkdv_stage(smem, 0), q, dy, lse, delta, doc_start, qfirst * QN, rows, h);
    cp_async_commit();
    const int qend = dkdv_last_tile(doc_start, (k0 + TILE < rows ? k0 + TILE : rows) - 1, window_blocks, rows);
    for (int st = 1; st < STAGES - 1; st++) {
        if (qfirst + st <= qend)
            dkdv_stage_async<true>(dkdv_stage(smem, st), q, dy, lse, delta, doc_start, (qfirst + st) * QN, rows, h);
        cp_async_commit();
    }
    const int g64 = (w >> 2) * 64 * 64;  // the group's 64 rows of column block 0 of K and V
    float dka[NV / 8][4] = {}, dva[NV / 8][4] = {};
    for (int qt = qfirst; qt <= qend; qt++) {
        const int qs = qt * QN;
        const DkdvStage cur = dkdv_stage(smem, (qt - qfirst) % STAGES);
        // As the warp form's, with the tiles in view of wgmma's reads.
        cp_async_wait<STAGES - 2>();
        fence_proxy_async();
        __syncthreads();
        if (qt + STAGES - 1 <= qend)
            dkdv_stage_async<true>(dkdv_stage(smem, (qt + STAGES - 1 - qfirst) % STAGES), q, dy, lse, delta,
                                   doc_start, qs + (STAGES - 1) * QN, rows, h);
        cp_async_commit();
        float s[QN / 8][4] = {}, dp[QN / 8][4] = {};
        wg_keep<QN / 8>(s);
        wg_keep<QN / 8>(dp);
        wg_fence();
        // k-step kk: column block kk / 4, 16 columns (32 bytes) in per kk % 4
        for (int kk = 0; kk < HD / 16; kk++) {
            const int ak = g64 + (kk >> 2) * TILE * 64 + (kk & 3) * 16, bk = (kk >> 2) * QN * 64 + (kk & 3) * 16;
            wgmma_ss<QN>(s, wg_desc(sk + ak, 16, 1024), wg_desc(cur.q + bk, 16, 1024), kk > 0);
        }
        wg_commit();
        for (int kk = 0; kk < HD / 16; kk++) {
            const int ak = g64 + (kk >> 2) * TILE * 64 + (kk & 3) * 16, bk = (kk >> 2) * QN * 64 + (kk & 3) * 16;
            wgmma_ss<QN>(dp, wg_desc(sv + ak, 16, 1024), wg_desc(cur.dy + bk, 16, 1024), kk > 0);
        }
        wg_commit();
        // The probabilities while dP^T runs, then dV += P^T dY while dS^T
        // is made: the same values in the same order as one wait for all.
        wg_wait<1>();
        wg_keep<QN / 8>(s);
        dkdv_p<QN>(s, cur, qs, ka, window_blocks, rows);
        unsigned pa[QN / 16][4], da[QN / 16][4];
        for (int j = 0; j < QN / 16; j++) acc_to_a(pa[j], s[2 * j], s[2 * j + 1]);
        wg_keep<NV / 8>(dva);
        wg_keep<QN / 16>(pa);
        wg_fence();
        // queries 16 j .. 16 j + 15: rows 16 j .. of dY and Q, column blocks QN * 128 bytes apart
        for (int j = 0; j < QN / 16; j++)
            wgmma_rs_tb<NV>(dva, pa[j], wg_desc(cur.dy + j * 16 * 64, QN * 128, 1024), true);
        wg_commit();
        wg_wait<1>();
        wg_keep<QN / 8>(dp);
        dkdv_ds<QN>(dp, s, cur, qs, rows);
        for (int j = 0; j < QN / 16; j++) acc_to_a(da[j], dp[2 * j], dp[2 * j + 1]);
        wg_keep<NV / 8>(dka);
        wg_keep<QN / 16>(da);
        wg_fence();
        for (int j = 0; j < QN / 16; j++)
            wgmma_rs_tb<NV>(dka, da[j], wg_desc(cur.q + j * 16 * 64, QN * 128, 1024), true);
        wg_commit();
        wg_wait<0>();
        wg_keep<NV / 8>(dva);
        wg_keep<NV / 8>(dka);
        wg_keep<QN / 16>(pa);
        wg_keep<QN / 16>(da);
        for (int j = 0; j < QN / 16 && DQ_SRC == 2; j++)
            store_ds(ds, da[j], cur.doc[16 * j], qs + 16 * j, k0 + 16 * w, window_blocks, rows, h, ds_slots);
    }
    const float one[2] = {1.0f, 1.0f};
    store_rows(dk, dka, ka, rows, h, one);
    store_rows(dv, dva, ka, rows, h, one);
}

// attn_bwd_dkdv in the form DKDV_MMA names (see fwd).
template <int MMA>
__device__ __forceinline__ void dkdv(__nv_bfloat16 *dk, __nv_bfloat16 *dv, __nv_bfloat16 *ds, const __nv_bfloat16 *dy,
                                     const float *lse, const float *delta, const __nv_bfloat16 *q,
                                     const __nv_bfloat16 *k, const __nv_bfloat16 *v, const int *doc_start,
                                     int window_blocks, int ds_slots, int rows) {
    if constexpr (MMA == 2)
        dkdv_groups<DKDV_QN, HD>(dk, dv, ds, dy, lse, delta, q, k, v, doc_start, window_blocks, ds_slots, rows);
    else dkdv_warps(dk, dv, ds, dy, lse, delta, q, k, v, doc_start, window_blocks, ds_slots, rows);
}

}  // namespace attn_{{SUFFIX}}

#if {{DKDV_ON}}
extern "C" __global__ void __launch_bounds__({{THREADS}}, {{MIN_BLOCKS}})
attn_bwd_dkdv_{{DKDV_TAG}}(__nv_bfloat16 *dk, __nv_bfloat16 *dv, __nv_bfloat16 *ds, const __nv_bfloat16 *dy,
                         const float *lse, const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k,
                         const __nv_bfloat16 *v, const int *doc_start, int window_blocks, int ds_slots,
                         int rows) {
    using namespace attn_{{SUFFIX}};
    dkdv<DKDV_MMA>(dk, dv, ds, dy, lse, delta, q, k, v, doc_start, window_blocks, ds_slots, rows);
}
#endif

namespace attn_{{SUFFIX}} {

// attn_bwd_dq from the stored dS (DQ_SRC 2). K tiles of KN rows through
// STAGES stages of shared memory (as dq_recompute's, without V); each warp
// adds ds k for its own query granule qb's stored key granules, ascending
// (the granules it skips hold only zeros in the recompute, so the sums are
// the same). A tile's granules are loaded into registers while the
// previous tile's products run, as its K rows are. Per warp (WG false,
// DQ_MMA 1) a warp's products skip the granules it does not keep. Per
// warpgroup (WG, DQ_MMA 2, wgmma on sm_90a) each warp's granules (mma A
// fragments as stored) are the A operand of its 16 rows and K is read
// N-major in wgmma's layout; a group's four warps take part in every
// product, so a granule a warp does not keep is zeros (load_ds_tile) and
// adds nothing. KN and NV are DQ_KN and HD (see fwd_groups).
template <int KN, int NV, bool WG>
__device__ __forceinline__ void dq_stored(__nv_bfloat16 *dq, const __nv_bfloat16 *ds, const __nv_bfloat16 *k,
                                          const int *doc_start, int window_blocks, int ds_slots, int rows) {
    GPTC_DYN_SMEM(unsigned char, raw);
    __nv_bfloat16 *smem = reinterpret_cast<__nv_bfloat16 *>(WG ? wg_align(raw) : raw);
    const int h = (int)blockIdx.y, q0 = (int)blockIdx.x * TILE, w = (int)(threadIdx.x >> 5);
    const int ra = q0 + 16 * w + (int)(gptc_lane() >> 2);
    const int last = (q0 + TILE < rows ? q0 + TILE : rows) - 1;
    const int kfirst = first_key(doc_start, q0, window_blocks) / KN, kend = last / KN;
    const int qb = q0 / 16 + w;
    const bool live = 16 * qb < rows;
    const int kbf = live ? first_key(doc_start, 16 * qb, window_blocks) / 16 : 0;
    for (int st = 0; st < STAGES - 1; st++) {
        if (kfirst + st <= kend) load_tile_async<KN, WG>(smem + st * KN * HD, k, (kfirst + st) * KN, rows, h);
        cp_async_commit();
    }
    uint4 g[KN / 16];
    load_ds_tile(g, ds, kfirst * KN / 16, live, qb, kbf, h, rows, ds_slots);
    float dqa[NV / 8][4] = {};
    for (int kt = kfirst; kt <= kend; kt++) {
        const int k0 = kt * KN;
        const __nv_bfloat16 *sk = smem + ((kt - kfirst) % STAGES) * KN * HD;
        cp_async_wait<STAGES - 2>();
        if (WG) fence_proxy_async();
        __syncthreads();
        if (kt + STAGES - 1 <= kend)
            load_tile_async<KN, WG>(smem + ((kt + STAGES - 1 - kfirst) % STAGES) * KN * HD, k,
                                    k0 + (STAGES - 1) * KN, rows, h);
        cp_async_commit();
        unsigned a[KN / 16][4];
        for (int j = 0; j < KN / 16; j++) a[j][0] = g[j].x, a[j][1] = g[j].y, a[j][2] = g[j].z, a[j][3] = g[j].w;
        if (kt < kend) load_ds_tile(g, ds, (k0 + KN) / 16, live, qb, kbf, h, rows, ds_slots);
        if constexpr (WG) {
            wg_keep<NV / 8>(dqa);
            wg_keep<KN / 16>(a);
            wg_fence();
            // keys 16 j .. 16 j + 15: rows 16 j .. of K, column blocks KN * 128 bytes apart
            for (int j = 0; j < KN / 16; j++)
                wgmma_rs_tb<NV>(dqa, a[j], wg_desc(sk + j * 16 * 64, KN * 128, 1024), true);
            wg_commit();
            wg_wait<0>();
            wg_keep<NV / 8>(dqa);
            wg_keep<KN / 16>(a);
        } else {
            for (int j = 0; j < KN / 16; j++)
                if (live && ds_kept(k0 / 16 + j, kbf, qb)) mma_cols(dqa, a[j], sk, j);
        }
    }
    const float one[2] = {1.0f, 1.0f};
    store_rows(dq, dqa, ra, rows, h, one);
}

// attn_bwd_dq recomputing s and ds (DQ_SRC 1).
__device__ __forceinline__ void dq_recompute(__nv_bfloat16 *dq, const __nv_bfloat16 *dy, const float *lse,
                                             const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k,
                                             const __nv_bfloat16 *v, const int *doc_start, int window_blocks,
                                             int rows) {
    GPTC_DYN_SMEM(__nv_bfloat16, smem);
    const int h = (int)blockIdx.y, q0 = (int)blockIdx.x * TILE, w = (int)(threadIdx.x >> 5);
    const int lane = (int)gptc_lane(), t4 = lane & 3, ra = q0 + 16 * w + (lane >> 2);
    const int last = (q0 + TILE < rows ? q0 + TILE : rows) - 1;
    const int kfirst = first_key(doc_start, q0, window_blocks) / DQ_KN, kend = last / DQ_KN;
    const float one[2] = {1.0f, 1.0f};
    // Q and dY through shared memory from the last stage on into
    // registers, once, as attn_fwd's Q.
    __nv_bfloat16 *sq = kv_stage<DQ_KN>(smem, STAGES - 1), *sdy = sq + TILE * HD;
    load_tile_async<TILE>(sq, q, q0, rows, h);
    load_tile_async<TILE>(sdy, dy, q0, rows, h);
    cp_async_commit();
    for (int st = 0; st < STAGES - 1; st++) {
        if (kfirst + st <= kend) kv_stage_async<DQ_KN>(kv_stage<DQ_KN>(smem, st), k, v, (kfirst + st) * DQ_KN, rows, h);
        cp_async_commit();
    }
    int lo[2];
    float lse2[2], dl[2];
    for (int r = 0; r < 2; r++) {
        const int row = ra + 8 * r;
        lo[r] = row < rows ? first_key(doc_start, row, window_blocks) : rows;
        lse2[r] = row < rows ? lse[(long long)h * rows + row] * LOG2E : 0.0f;
        dl[r] = row < rows ? delta[(long long)h * rows + row] : 0.0f;
    }
    cp_async_wait<STAGES - 1>();  // Q's and dY's group; the key tiles' may still be in flight
    __syncthreads();
    unsigned qf[HD / 16][4], dyf[HD / 16][4];
    for (int kk = 0; kk < HD / 16; kk++) {
        frag_a(qf[kk], sq, 16 * w, kk);
        frag_a(dyf[kk], sdy, 16 * w, kk);
    }
    float dqa[HD / 8][4] = {};
    for (int kt = kfirst; kt <= kend; kt++) {
        const int k0 = kt * DQ_KN;
        const __nv_bfloat16 *sk = kv_stage<DQ_KN>(smem, (kt - kfirst) % STAGES), *sv = sk + DQ_KN * HD;
        // As attn_fwd: tile kt has landed, and tile kt - 1 (or Q and dY)
        // is retired from the stage the copies of tile kt + STAGES - 1
        // reuse.
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (kt + STAGES - 1 <= kend)
            kv_stage_async<DQ_KN>(kv_stage<DQ_KN>(smem, (kt + STAGES - 1 - kfirst) % STAGES), k, v,
                                  k0 + (STAGES - 1) * DQ_KN, rows, h);
        cp_async_commit();
        float s[DQ_KN / 8][4] = {}, dp[DQ_KN / 8][4] = {};
        for (int kk = 0; kk < HD / 16; kk++) {
            mma_rows_t<DQ_KN>(s, qf[kk], sk, kk);
            mma_rows_t<DQ_KN>(dp, dyf[kk], sv, kk);
        }
        for (int nb = 0; nb < DQ_KN / 8; nb++)
            for (int e = 0; e < 4; e++) {
                const int key = k0 + 8 * nb + 2 * t4 + (e & 1), r = e >> 1;
                const float p =
                    key >= lo[r] && key <= ra + 8 * r ? exp2f(s[nb][e] * SCALE_LOG2 - lse2[r]) : 0.0f;
                s[nb][e] = p * (dp[nb][e] - dl[r]) * SCALE;
            }
        for (int j = 0; j < DQ_KN / 16; j++) {
            unsigned a[4];
            acc_to_a(a, s[2 * j], s[2 * j + 1]);
            mma_cols(dqa, a, sk, j);
        }
    }
    store_rows(dq, dqa, ra, rows, h, one);
}

// attn_bwd_dq in the form DQ_SRC and DQ_MMA name (see fwd).
template <int SRC, int MMA>
__device__ __forceinline__ void dq_any(__nv_bfloat16 *dq, const __nv_bfloat16 *ds, const __nv_bfloat16 *dy,
                                      const float *lse, const float *delta, const __nv_bfloat16 *q,
                                      const __nv_bfloat16 *k, const __nv_bfloat16 *v, const int *doc_start,
                                      int window_blocks, int ds_slots, int rows) {
    if constexpr (SRC == 1) dq_recompute(dq, dy, lse, delta, q, k, v, doc_start, window_blocks, rows);
    else dq_stored<DQ_KN, HD, MMA == 2>(dq, ds, k, doc_start, window_blocks, ds_slots, rows);
}

}  // namespace attn_{{SUFFIX}}

#if {{DQ_ON}}
extern "C" __global__ void __launch_bounds__({{THREADS}}, {{MIN_BLOCKS}})
attn_bwd_dq_{{DQ_TAG}}(__nv_bfloat16 *dq, const __nv_bfloat16 *ds, const __nv_bfloat16 *dy, const float *lse,
                       const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                       const int *doc_start, int window_blocks, int ds_slots, int rows) {
    using namespace attn_{{SUFFIX}};
    dq_any<DQ_SRC, DQ_MMA>(dq, ds, dy, lse, delta, q, k, v, doc_start, window_blocks, ds_slots, rows);
}
#endif
