// test_sim.cc: the sim executor's tests. Runs the kernels of
// tests/sim/kernels/ through their C entry points (gptc_sim_NAME, sim.h),
// as the runtime will, and compares every result with a plain C++
// computation; checks that planted bugs are reported with the kernel's name
// (divergent barriers and shuffles, partial masks, bad launches) or made
// visible by the scheduling options (a missing barrier, uninitialised shared
// memory), and that correct kernels give bit-identical results under those
// options. Prints "ok NAME" or "FAIL NAME: why" per test, then a summary.
//
//   test_sim           the tests
//   test_sim --oob     the planted out-of-bounds write; an ASan build must
//                      abort with a report naming the kernel's source line
//   test_sim --bench   fiber switch rate and kernel timings
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <string>
#include <vector>

#include "sim.h"

#define K(name) extern "C" int gptc_sim_##name(const GptcSimLaunch *, void **);
#include "kernel_list.h"
#undef K

namespace {

// ---- harness ------------------------------------------------------------------

std::string g_why;  // the current test's first failed expectation

void note(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note(int line, const char *fmt, ...) {
    if (!g_why.empty()) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_why = "line " + std::to_string(line) + ": " + buf;
}
#define EXPECT(cond, ...)                          \
    do {                                           \
        if (!(cond)) note(__LINE__, __VA_ARGS__); \
    } while (0)

GptcSimLaunch config(GptcSimDim3 grid, GptcSimDim3 block, size_t smem = 0, GptcSimOptions opt = GptcSimOptions()) {
    GptcSimLaunch l = GptcSimLaunch();
    l.grid = grid;
    l.block = block;
    l.smem_bytes = smem;
    l.opt = opt;
    return l;
}
GptcSimLaunch config1(unsigned blocks, unsigned threads, GptcSimOptions opt = GptcSimOptions()) {
    return config({blocks, 1, 1}, {threads, 1, 1}, 0, opt);
}

// Launches like cuLaunchKernel: args[i] points at parameter i.
template <class... P>
int run(GptcSimKernelFn fn, const GptcSimLaunch &l, P... p) {
    void *args[] = {&p...};
    return fn(&l, args);
}

GptcSimOptions opts(uint64_t seed, int poison) {
    GptcSimOptions o = GptcSimOptions();
    o.order_seed = seed;
    o.poison_smem = poison;
    return o;
}

GptcSimOptions opts_late(uint64_t seed) {
    GptcSimOptions o = opts(seed, 1);
    o.late_async = 1;
    return o;
}

// The option sets under which a correct kernel must not change its result.
const GptcSimOptions kVariants[] = {opts(0, 0),     opts(1, 0), opts(2, 0),   opts(12345, 0),
                                    opts(0, 1),     opts(7, 1), opts_late(0), opts_late(9)};

uint64_t g_rng = 0x243f6a8885a308d3ull;
uint32_t rnd() {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 32);
}
float rnd_unit() { return (float)(rnd() >> 8) / 8388608.0f - 1.0f; }  // [-1, 1)

uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

bool contains(const char *s, const char *part) { return strstr(s, part) != nullptr; }

// Expects launch status rc to be `want`, and the error message to contain
// each of `parts` (a null-terminated list).
void expect_error(int line, int rc, int want, std::initializer_list<const char *> parts) {
    const char *msg = gptc_sim_last_error();
    if (rc != want) note(line, "status %d, expected %d (message: %s)", rc, want, msg);
    for (const char *p : parts)
        if (!contains(msg, p)) note(line, "message lacks '%s': %s", p, msg);
}

// ---- references ------------------------------------------------------------------

// The value of bf16 bits b as a double; exponent 255 is decoded as if it
// were finite (2^128 and up), which is what rounding compares against.
double bf16_value(uint32_t b) {
    double sign = (b & 0x8000u) ? -1.0 : 1.0;
    int e = (int)((b >> 7) & 0xffu), m = (int)(b & 0x7fu);
    return sign * (e ? ldexp(128.0 + m, e - 134) : ldexp((double)m, -133));
}

// Round to nearest even by comparing distances to the two neighbours: a
// different method from the emulator's bias-and-truncate.
uint16_t ref_bf16_rn(uint32_t u) {
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
    uint32_t lo = u >> 16;
    if ((u & 0xffffu) == 0 || (u & 0x7fffffffu) == 0x7f800000u) return (uint16_t)lo;
    double x = (double)from_bits(u), dlo = fabs(x - bf16_value(lo)), dhi = fabs(bf16_value(lo + 1) - x);
    if (dlo != dhi) return (uint16_t)(dlo < dhi ? lo : lo + 1);
    return (uint16_t)((lo & 1u) ? lo + 1 : lo);
}

// shfl.sync as the PTX ISA defines it: the lane a lane reads, or its own.
enum { UP, DOWN, BFLY, IDX };
int ref_shfl_src(int lane, int mode, unsigned b, int width) {
    const int bval = (int)(b & 31u), segmask = 32 - width, cval = mode == UP ? 0 : 31;
    const int max_lane = (lane & segmask) | (cval & ~segmask), min_lane = lane & segmask;
    int j = lane;
    bool ok = false;
    switch (mode) {
    case UP: j = lane - bval, ok = j >= max_lane; break;
    case DOWN: j = lane + bval, ok = j <= max_lane; break;
    case BFLY: j = lane ^ bval, ok = j <= max_lane; break;
    case IDX: j = min_lane | (bval & ~segmask), ok = j <= max_lane; break;
    }
    return ok ? j : lane;
}

// ---- tests: results -------------------------------------------------------------

void test_row_sum() {
    const int rows = 48, cols = 1000;
    std::vector<float> x(rows * cols), out(rows);
    for (float &v : x) v = rnd_unit();
    for (unsigned threads : {32u, 256u, 1024u}) {
        int rc = run(gptc_sim_row_sum, config1(rows, threads), x.data(), out.data(), cols);
        EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
        for (int r = 0; r < rows; r++) {
            double want = 0, size = 0;
            for (int c = 0; c < cols; c++) want += x[r * cols + c], size += fabs(x[r * cols + c]);
            EXPECT(fabs(out[r] - want) < 1e-6 * size, "%u threads, row %d: %.7g, expected %.7g", threads, r, out[r],
                   want);
        }
    }
}

void test_row_max() {
    const int rows = 16, cols = 777;
    std::vector<float> x(rows * cols), out(rows);
    for (float &v : x) v = rnd_unit();
    int disagree = 0;
    int rc = run(gptc_sim_row_max, config1(rows, 128), x.data(), out.data(), &disagree, cols);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    EXPECT(disagree == 0, "%d threads saw another maximum", disagree);
    for (int r = 0; r < rows; r++) {
        float want = x[r * cols];
        for (int c = 1; c < cols; c++) want = fmaxf(want, x[r * cols + c]);
        EXPECT(out[r] == want, "row %d: %g, expected %g", r, out[r], want);
    }
}

void test_warp_ops() {
    const int blocks = 2, threads = 64, n = blocks * threads, ops = 16;
    std::vector<int> x(n), out(ops * n);
    for (int &v : x) v = (int)(rnd() % 100);
    x[5] = 7;  // warp 0 has a 7, the others none
    for (int g = 32; g < n; g++)
        if (x[g] == 7) x[g] = 8;
    int rc = run(gptc_sim_warp_ops, config1(blocks, threads), x.data(), out.data());
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int g = 0; g < n; g++) {
        const int lane = g & 31, *w = &x[g - lane];
        unsigned ballot = 0;
        bool any7 = false, all_pos = true, all_not7 = true;
        for (int l = 0; l < 32; l++) {
            ballot |= (unsigned)(w[l] & 1) << l;
            any7 |= w[l] == 7;
            all_pos &= w[l] >= 0;
            all_not7 &= w[l] != 7;
        }
        const int want[16] = {w[ref_shfl_src(lane, IDX, (unsigned)(lane * 7 + 3) & 31u, 32)],
                              w[ref_shfl_src(lane, IDX, (unsigned)lane + 1, 8)],
                              w[ref_shfl_src(lane, UP, 3, 32)],
                              w[ref_shfl_src(lane, UP, 1, 4)],
                              w[ref_shfl_src(lane, DOWN, 5, 32)],
                              w[ref_shfl_src(lane, DOWN, 2, 16)],
                              w[ref_shfl_src(lane, BFLY, 1, 32)],
                              w[ref_shfl_src(lane, BFLY, 16, 32)],
                              w[ref_shfl_src(lane, BFLY, 4, 4)],
                              w[ref_shfl_src(lane, BFLY, 2, 32)],
                              w[31],
                              (int)ballot,
                              any7,
                              all_pos,
                              all_not7,
                              w[ref_shfl_src(lane, DOWN, 33, 32)]};
        for (int k = 0; k < ops; k++)
            EXPECT(out[k * n + g] == want[k], "op %d, thread %d: %d, expected %d", k, g, out[k * n + g], want[k]);
    }
}

void test_transpose() {
    const int rows = 70, cols = 100;
    std::vector<float> in(rows * cols), out(rows * cols, -1.0f);
    for (float &v : in) v = rnd_unit();
    GptcSimLaunch l = config({(cols + 31) / 32, (rows + 31) / 32, 1}, {32, 8, 1}, 32 * 33 * sizeof(float));
    int rc = run(gptc_sim_transpose, l, in.data(), out.data(), rows, cols);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            EXPECT(out[c * rows + r] == in[r * cols + c], "out[%d][%d] = %g, expected %g", c, r, out[c * rows + r],
                   in[r * cols + c]);
}

// float bits -> bf16 rounded to nearest even, and toward zero.
struct Bf16Case {
    uint32_t in;
    uint16_t rn, rz;
    const char *what;
};
const Bf16Case kBf16Table[] = {
    {0x3f800000, 0x3f80, 0x3f80, "1"},
    {0x3f808000, 0x3f80, 0x3f80, "tie, even below"},
    {0x3f818000, 0x3f82, 0x3f81, "tie, even above"},
    {0x3f808001, 0x3f81, 0x3f80, "just above a tie"},
    {0x3f807fff, 0x3f80, 0x3f80, "just below a tie"},
    {0xbf808000, 0xbf80, 0xbf80, "negative tie, even below"},
    {0xbf818000, 0xbf82, 0xbf81, "negative tie, even above"},
    {0x3dcccccd, 0x3dcd, 0x3dcc, "0.1"},
    {0x40490fdb, 0x4049, 0x4049, "pi"},
    {0x7f7f7fff, 0x7f7f, 0x7f7f, "largest that stays finite"},
    {0x7f7f8000, 0x7f80, 0x7f7f, "tie above the largest bf16: to +inf"},
    {0x7f7fffff, 0x7f80, 0x7f7f, "FLT_MAX: to +inf"},
    {0xff7fffff, 0xff80, 0xff7f, "-FLT_MAX: to -inf"},
    {0x7f800000, 0x7f80, 0x7f80, "+inf"},
    {0xff800000, 0xff80, 0xff80, "-inf"},
    {0x7fc00000, 0x7fff, 0x7fff, "quiet NaN"},
    {0xffc00000, 0x7fff, 0x7fff, "negative NaN"},
    {0x7f800001, 0x7fff, 0x7fff, "NaN with only low payload bits"},
    {0x7fffffff, 0x7fff, 0x7fff, "NaN, all bits"},
    {0x00000000, 0x0000, 0x0000, "+0"},
    {0x80000000, 0x8000, 0x8000, "-0"},
    {0x00000001, 0x0000, 0x0000, "smallest denormal"},
    {0x00008000, 0x0000, 0x0000, "denormal tie, even below"},
    {0x00018000, 0x0002, 0x0001, "denormal tie, even above"},
    {0x007fffff, 0x0080, 0x007f, "largest denormal: to the smallest normal"},
};

void test_bf16_table() {
    const int n = (int)(sizeof kBf16Table / sizeof kBf16Table[0]);
    std::vector<float> x(n), back(n);
    std::vector<unsigned short> rn(n), rz(n);
    for (int i = 0; i < n; i++) x[i] = from_bits(kBf16Table[i].in);
    int rc = run(gptc_sim_bf16_convert, config1(1, 32), x.data(), rn.data(), rz.data(), back.data(), n);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int i = 0; i < n; i++) {
        const Bf16Case &c = kBf16Table[i];
        EXPECT(rn[i] == c.rn, "%s (0x%08x): rn 0x%04x, expected 0x%04x", c.what, c.in, rn[i], c.rn);
        EXPECT(rz[i] == c.rz, "%s (0x%08x): rz 0x%04x, expected 0x%04x", c.what, c.in, rz[i], c.rz);
        EXPECT(bits(back[i]) == (uint32_t)c.rn << 16, "%s: back 0x%08x", c.what, bits(back[i]));
    }
}

void test_bf16_sweep() {
    const int n = 1 << 16;
    std::vector<float> x(n), back(n);
    std::vector<unsigned short> rn(n), rz(n);
    for (int i = 0; i < n; i++) {
        uint32_t u = rnd();
        if (i % 4 == 0) u = (u & 0xffff0000u) | 0x8000u;  // ties
        x[i] = from_bits(u);
    }
    int rc = run(gptc_sim_bf16_convert, config1(n / 256, 256), x.data(), rn.data(), rz.data(), back.data(), n);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int i = 0; i < n; i++) {
        uint32_t u = bits(x[i]);
        bool nan = (u & 0x7fffffffu) > 0x7f800000u;
        EXPECT(rn[i] == ref_bf16_rn(u), "0x%08x: rn 0x%04x, expected 0x%04x", u, rn[i], ref_bf16_rn(u));
        EXPECT(rz[i] == (nan ? 0x7fff : u >> 16), "0x%08x: rz 0x%04x", u, rz[i]);
    }
}

void test_bf16_pairs() {
    const int pairs = 100;
    std::vector<float> x(2 * pairs), lo(pairs), hi(pairs), reload(2 * pairs);
    std::vector<uint16_t> packed(2 * pairs);
    for (int i = 0; i < 2 * pairs; i++) x[i] = rnd_unit() * 1000.0f;
    int rc = run(gptc_sim_bf16_pairs, config1(4, 32), x.data(), lo.data(), hi.data(), (void *)packed.data(),
                 reload.data(), pairs);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int i = 0; i < pairs; i++) {
        uint16_t a = ref_bf16_rn(bits(x[2 * i])), b = ref_bf16_rn(bits(x[2 * i + 1]));
        EXPECT(bits(lo[i]) == (uint32_t)a << 16 && bits(hi[i]) == (uint32_t)b << 16, "pair %d: lo/hi", i);
        EXPECT(packed[2 * i] == a && packed[2 * i + 1] == b, "pair %d: stored 0x%04x 0x%04x", i, packed[2 * i],
               packed[2 * i + 1]);
        EXPECT(reload[2 * i] == lo[i] && reload[2 * i + 1] == hi[i], "pair %d: reloaded", i);
    }
}

void test_histogram() {
    const int n = 10000, nbins = 100;
    std::vector<int> x(n), bins(nbins, 0), want(nbins, 0);
    for (int &v : x) v = (int)(rnd() % 1000);
    float sum = 0;
    int maxv = -1;
    int rc = run(gptc_sim_histogram, config1(8, 128), x.data(), n, bins.data(), nbins, &sum, &maxv);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    double want_sum = 0;
    int want_max = -1;
    for (int v : x) {
        want[v % nbins]++;
        want_sum += v;
        want_max = v > want_max ? v : want_max;
    }
    for (int b = 0; b < nbins; b++) EXPECT(bins[b] == want[b], "bin %d: %d, expected %d", b, bins[b], want[b]);
    EXPECT(sum == want_sum, "sum %g, expected %g", sum, want_sum);
    EXPECT(maxv == want_max, "max %d, expected %d", maxv, want_max);
}

void test_mma() {
    std::vector<uint16_t> a(256), bt(256);
    std::vector<float> c(256), d(256), want(256);
    for (auto &v : a) v = ref_bf16_rn(bits(rnd_unit()));
    for (auto &v : bt) v = ref_bf16_rn(bits(rnd_unit()));
    for (float &v : c) v = rnd_unit();
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            double s = c[i * 16 + j];
            for (int k = 0; k < 16; k++) s += bf16_value(a[i * 16 + k]) * bf16_value(bt[j * 16 + k]);
            want[i * 16 + j] = (float)s;
        }
    for (GptcSimKernelFn fn : {gptc_sim_mma_ldmatrix, gptc_sim_mma_direct, gptc_sim_mma_ldmatrix_trans}) {
        const char *name = fn == gptc_sim_mma_direct    ? "mma_direct"
                           : fn == gptc_sim_mma_ldmatrix ? "mma_ldmatrix"
                                                         : "mma_ldmatrix_trans";
        std::fill(d.begin(), d.end(), NAN);
        int rc = run(fn, config1(1, 32), (const void *)a.data(), (const void *)bt.data(), c.data(), d.data());
        EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
        for (int i = 0; i < 256; i++)
            EXPECT(fabsf(d[i] - want[i]) < 1e-4f, "%s: d[%d][%d] = %g, expected %g", name, i / 16, i % 16, d[i],
                   want[i]);
    }
}

// The warpgroup products (tests/sim/kernels/wgmma.cu) against the host's:
// S = A Bt^T from the bf16 inputs, O = bf16(S) V from the kernel's own S.
void test_wgmma() {
    for (int late = 0; late < 2; late++)
    for (int ns : {32, 64, 128}) {
        const int no = ns == 128 ? 64 : 128;
        std::vector<uint16_t> a(64 * 128), bt(ns * 128), v(ns * no);
        for (auto *m : {&a, &bt, &v})
            for (auto &x : *m) x = ref_bf16_rn(bits(rnd_unit()));
        std::vector<float> s(64 * ns, NAN), o(64 * no, NAN);
        int rc = run(ns == 32 ? gptc_sim_wgmma_n32 : ns == 64 ? gptc_sim_wgmma_n64 : gptc_sim_wgmma_n128,
                     config({1, 1, 1}, {128, 1, 1}, (64 + 2 * ns) * 128 * 2 + 1024, late ? opts_late(7) : opts(7, 1)),
                     (const void *)a.data(),
                     (const void *)bt.data(), (const void *)v.data(), s.data(), o.data());
        EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < ns; j++) {
                double want = 0;
                for (int k = 0; k < 128; k++) want += bf16_value(a[i * 128 + k]) * bf16_value(bt[j * 128 + k]);
                EXPECT(fabs(s[i * ns + j] - want) < 1e-4, "n%d: s[%d][%d] = %g, expected %g", ns, i, j, s[i * ns + j],
                       want);
            }
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < no; j++) {
                double want = 0;
                for (int k = 0; k < ns; k++)
                    want += bf16_value(ref_bf16_rn(bits(s[i * ns + k]))) * bf16_value(v[k * no + j]);
                EXPECT(fabs(o[i * no + j] - want) < 1e-3 * (1 + fabs(want)), "n%d: o[%d][%d] = %g, expected %g", ns, i,
                       j, o[i * no + j], want);
            }
    }
}

// Accumulators read before their wait read the products' results when the
// products run at once, and not under late_async (they read the zeros they
// started as); products never waited for fail the launch there.
void test_wgmma_late_finds_early_reads() {
    std::vector<uint16_t> a(64 * 128), bt(64 * 128);
    for (auto *m : {&a, &bt})
        for (auto &x : *m) x = ref_bf16_rn(bits(rnd_unit()));
    std::vector<float> want(64 * 64);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++) {
            double sum = 0;
            for (int k = 0; k < 128; k++) sum += bf16_value(a[i * 128 + k]) * bf16_value(bt[j * 128 + k]);
            want[i * 64 + j] = (float)sum;
        }
    for (int early = 0; early < 3; early++)
        for (int late = 0; late < 2; late++) {
            std::vector<float> s(64 * 64, NAN);
            int rc = run(gptc_sim_wgmma_early,
                         config({1, 1, 1}, {128, 1, 1}, 2 * 64 * 128 * 2 + 1024, late ? opts_late(5) : opts(5, 1)),
                         (const void *)a.data(), (const void *)bt.data(), s.data(), early);
            if (early == 2 && late) {
                EXPECT(rc == GPTC_SIM_ERR_KERNEL && contains(gptc_sim_last_error(), "never waited for"),
                       "products never waited for: rc %d, %s", rc, gptc_sim_last_error());
                continue;
            }
            EXPECT(rc == GPTC_SIM_OK, "early %d late %d: %s", early, late, gptc_sim_last_error());
            int right = 0, zero = 0;
            for (int i = 0; i < 64 * 64; i++) right += fabsf(s[i] - want[i]) < 1e-4f, zero += s[i] == 0.0f;
            if (early && late)
                EXPECT(zero == 64 * 64, "read before its wait under late products: %d of 4096 zeros", zero);
            else
                EXPECT(right == 64 * 64, "early %d late %d: %d of 4096 right", early, late, right);
        }
}

// Tiles a thread's cp.async wrote, read by a warpgroup product: right after
// that thread's fence_proxy_async; without it the launch fails, naming the
// byte and the thread, in every scheduling mode.
void test_wgmma_needs_the_proxy_fence() {
    std::vector<uint16_t> a(64 * 128), bt(64 * 128), la(64 * 128), lbt(64 * 128);
    for (auto *m : {&a, &bt})
        for (auto &x : *m) x = ref_bf16_rn(bits(rnd_unit()));
    // the layout: chunk c of row r of a 64-column block at c ^ (r % 8)
    for (int r = 0; r < 64; r++)
        for (int c = 0; c < 128; c++) {
            const int at = (c / 64) * 64 * 64 + r * 64 + ((((c % 64) >> 3) ^ (r & 7)) << 3) + (c & 7);
            la[at] = a[r * 128 + c];
            lbt[at] = bt[r * 128 + c];
        }
    for (int fence = 0; fence < 2; fence++)
        for (const GptcSimOptions &o : {opts(0, 1), opts_late(11)}) {
            std::vector<float> s(64 * 64, NAN);
            int rc = run(gptc_sim_wgmma_fenced, config({1, 1, 1}, {128, 1, 1}, 2 * 64 * 128 * 2 + 1024, o),
                         (const void *)la.data(), (const void *)lbt.data(), s.data(), fence);
            if (!fence) {
                EXPECT(rc == GPTC_SIM_ERR_KERNEL && contains(gptc_sim_last_error(), "with no fence_proxy_async"),
                       "no fence, late %d: rc %d, %s", o.late_async, rc, gptc_sim_last_error());
                continue;
            }
            EXPECT(rc == GPTC_SIM_OK, "late %d: %s", o.late_async, gptc_sim_last_error());
            for (int i = 0; i < 64; i++)
                for (int j = 0; j < 64; j++) {
                    double want = 0;
                    for (int k = 0; k < 128; k++) want += bf16_value(a[i * 128 + k]) * bf16_value(bt[j * 128 + k]);
                    EXPECT(fabs(s[i * 64 + j] - want) < 1e-4, "s[%d][%d] = %g, expected %g", i, j, s[i * 64 + j],
                           want);
                }
        }
}

void test_movmatrix() {
    std::vector<uint16_t> m(64), out(64, 0xffff);
    for (auto &v : m) v = ref_bf16_rn(bits(rnd_unit()));
    int rc = run(gptc_sim_movmatrix_t, config1(1, 32), (const void *)m.data(), (void *)out.data());
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            EXPECT(out[i * 8 + j] == m[j * 8 + i], "out[%d][%d] = %04x, expected m[%d][%d] = %04x", i, j,
                   out[i * 8 + j], j, i, m[j * 8 + i]);
}

void test_math_whitelist() {
    const int n = 64, ops = 32;
    std::vector<float> x(n), out(ops * n);
    for (int i = 0; i < n; i++) x[i] = 0.05f + 0.1f * (float)i;
    int rc = run(gptc_sim_math_whitelist, config1(1, n), x.data(), out.data());
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (int i = 0; i < n; i++) {
        const float v = x[i];
        const unsigned u = (unsigned)i;
        const double want[32] = {exp(v), exp(v), log(v), log(v), sqrt(v), 1 / sqrt(v), tanh(v), fmax(v, 0.5),
                                 fmin(v, 0.5), v, v, v, v / 3.0, exp2(v), sin(v), cos(v), sin(v), cos(v),
                                 pow(v, 1.5), 1.0 / v, sqrt(v), 2.0 * v + 1, fmin(fmax(v - 0.5, 0), 1),
                                 (double)v * v - 1, floor(v * 3.0f), ceil(v * 3.0f), (double)__builtin_popcount(u),
                                 (double)__builtin_clz(u + 1), (double)__builtin_ffs(i),
                                 (double)((i < 3 ? i : 3) + (u > 2 ? u : 2)), v,
                                 bf16_value(ref_bf16_rn(bits(-v)))};
        for (int k = 0; k < ops; k++) {
            double got = out[k * n + i];
            EXPECT(fabs(got - want[k]) <= 2e-6 * (1 + fabs(want[k])), "op %d, x = %g: %.9g, expected %.9g", k, v, got,
                   want[k]);
        }
    }
}

// The twins of prims.cuh's MUFU functions: within an ulp of the function,
// and a denormal input or result flushed to zero of the same sign.
void test_special_ftz() {
    const float den = 1e-40f, inf = INFINITY;
    const std::vector<float> x = {3.0f, -1.5f, 0.3f, 100.0f, -130.0f, den, -den, 0x1p127f, inf, -inf};
    const int n = (int)x.size();
    std::vector<float> out(3 * n);
    int rc = run(gptc_sim_special_ftz, config1(1, n), x.data(), out.data());
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    // ex2: exp2 of -130 is denormal (0); of a denormal, exp2(0). rsqrt and
    // rcp: of a denormal, of +-0; rcp(2^127) is denormal (0).
    const double want[3][10] = {
        {8, exp2(-1.5), exp2(0.3), exp2(100.0), 0, 1, 1, inf, inf, 0},
        {1 / sqrt(3.0), NAN, 1 / sqrt(0.3), 0.1, NAN, inf, -inf, 1 / sqrt(0x1p127), 0, NAN},
        {1 / 3.0, -1 / 1.5, 1 / 0.3, 0.01, -1 / 130.0, inf, -inf, 0, 0, -0.0},
    };
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < n; i++) {
            double got = out[f * n + i], w = want[f][i];
            bool ok = std::isnan(w) ? std::isnan(got)
                      : std::isinf(w) || w == 0 ? got == w && std::signbit(got) == std::signbit(w)
                                                : fabs(got - w) <= 0x1p-23 * fabs(w);
            EXPECT(ok, "function %d of %g: %.9g, expected %.9g", f, (double)x[i], got, w);
        }
}

void test_api_misc() {
    const int n = 96;
    std::vector<float> x(4 * n), y(4 * n, 0.0f);
    for (float &v : x) v = rnd_unit();
    unsigned counts[2] = {0, 0};
    int rc = run(gptc_sim_api_misc, config1(1, n), x.data(), y.data(), counts);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    EXPECT(y == x, "the float4 copy differs");
    EXPECT(counts[0] == n * (n - 1) / 2 && counts[1] == n - 1, "counters %u %u", counts[0], counts[1]);
}

// ---- tests: planted bugs ------------------------------------------------------------

void test_divergent_barrier() {
    std::vector<float> out(64);
    int rc = run(gptc_sim_divergent_barrier, config({4, 1, 1}, {64, 1, 1}), out.data());
    expect_error(__LINE__, rc, GPTC_SIM_ERR_KERNEL,
                 {"sim: kernel divergent_barrier: __syncthreads at ", "bugs.cu:",
                  "reached by 59 of 64 threads (divergent barrier) at block (0,0,0); thread (0,0,0) exited"});
}

void test_divergent_shuffle() {
    std::vector<float> out(64);
    int rc = run(gptc_sim_divergent_shuffle, config1(1, 64), out.data());
    expect_error(__LINE__, rc, GPTC_SIM_ERR_KERNEL,
                 {"sim: kernel divergent_shuffle: __shfl_xor_sync at ", "bugs.cu:",
                  "reached by 16 of 32 lanes of warp 0 (divergent warp collective) at block (0,0,0); lane 16 exited"});
}

void test_partial_mask() {
    std::vector<float> out(32);
    int rc = run(gptc_sim_partial_mask, config1(1, 32), out.data());
    expect_error(__LINE__, rc, GPTC_SIM_ERR_KERNEL,
                 {"sim: kernel partial_mask: __shfl_down_sync at ", "mask 0x0000ffff", "only the full mask"});
}

void test_two_barriers() {
    std::vector<float> out(64);
    int rc = run(gptc_sim_two_barriers, config1(1, 64), out.data());
    expect_error(__LINE__, rc, GPTC_SIM_ERR_KERNEL,
                 {"sim: kernel two_barriers: divergent barrier at block (0,0,0): thread (32,0,0) reached "
                  "__syncthreads at ",
                  "while other threads wait at __syncthreads at "});
}

void test_partial_warp() {
    std::vector<float> out(48);
    int rc = run(gptc_sim_partial_warp_sum, config1(1, 48), out.data());
    expect_error(__LINE__, rc, GPTC_SIM_ERR_KERNEL,
                 {"sim: kernel partial_warp_sum: __shfl_xor_sync at ", "prims.cuh:",
                  "which does not exist (the warp has 16 threads)"});
}

void test_bad_launches() {
    std::vector<float> x(64), out(64);
    int rc = run(gptc_sim_row_sum, config1(1, 2048), x.data(), out.data(), 64);
    expect_error(__LINE__, rc, GPTC_SIM_ERR_CONFIG,
                 {"sim: kernel row_sum: invalid launch: block (2048,1,1) has 2048 threads"});
    rc = run(gptc_sim_row_sum, config({1, 1, 1}, {32, 1, 1}, 300000), x.data(), out.data(), 64);
    expect_error(__LINE__, rc, GPTC_SIM_ERR_CONFIG, {"300000 bytes of dynamic shared memory"});
    rc = run(gptc_sim_row_sum, config({0, 1, 1}, {32, 1, 1}), x.data(), out.data(), 64);
    expect_error(__LINE__, rc, GPTC_SIM_ERR_CONFIG, {"invalid launch: grid (0,1,1)"});
    GptcSimOptions small = GptcSimOptions();
    small.stack_kib = 8;
    rc = run(gptc_sim_row_sum, config1(1, 32, small), x.data(), out.data(), 64);
    expect_error(__LINE__, rc, GPTC_SIM_ERR_CONFIG, {"stack_kib 8"});
}

// After all the failures above, fibers and state are back to normal, also
// with another stack size (which replaces the pool of fibers).
void test_launch_after_errors() {
    std::vector<float> out(64);
    EXPECT(run(gptc_sim_divergent_barrier, config1(1, 64), out.data()) == GPTC_SIM_ERR_KERNEL, "no error");
    std::vector<float> x(4 * 64, 1.0f), sums(4);
    GptcSimOptions big = GptcSimOptions();
    big.stack_kib = 512;
    for (const GptcSimOptions &o : {big, GptcSimOptions()}) {
        int rc = run(gptc_sim_row_sum, config1(4, 64, o), x.data(), sums.data(), 64);
        EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
        for (float s : sums) EXPECT(s == 64.0f, "sum %g", s);
    }
}

// shift_racy lacks the barrier between its smem writes and reads. In order
// (each thread runs to its end before the next starts) it happens to be
// right; a random order must show the race.
void test_missing_barrier_found_by_order() {
    const int blocks = 8, threads = 256, n = blocks * threads;
    std::vector<float> x(n), y(n), want(n);
    for (int i = 0; i < n; i++) x[i] = (float)i;
    for (int i = 0; i < n; i++) want[i] = i % threads ? x[i - 1] : 0.0f;
    int rc = run(gptc_sim_shift_racy, config1(blocks, threads), x.data(), y.data());
    EXPECT(rc == GPTC_SIM_OK && y == want, "in order: should happen to be right");
    int wrong = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        rc = run(gptc_sim_shift_racy, config1(blocks, threads, opts(seed, seed & 1)), x.data(), y.data());
        EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
        wrong += y != want;
    }
    EXPECT(wrong == 4, "only %d of 4 randomised runs showed the race", wrong);
}

// sum_uninit reads partial sums of warps the block does not have. Poisoned
// shared memory turns them into NaN.
void test_uninitialised_smem_found_by_poison() {
    std::vector<float> x(4 * 64, 1.0f), out(4);
    int rc = run(gptc_sim_sum_uninit, config1(4, 64, opts(0, 1)), x.data(), out.data());
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (float s : out) EXPECT(isnan(s), "sum %g: the poisoned slots should make it NaN", s);
}

// cp.async copies waited for are there under late copies; the newest group,
// not waited for, is not (poison shows it) wherever the thread that issued
// it has not ended yet, though copies that land at once hide the bug.
void test_late_copies_find_an_early_read() {
    const unsigned blocks = 4, threads = 128;
    std::vector<float> x(blocks * threads), want(x.size());
    for (float &v : x) v = rnd_unit();
    for (unsigned g = 0; g < x.size(); g++) want[g] = x[g / threads * threads + (g % threads + 1) % threads];
    const GptcSimOptions late = opts_late(3);
    for (int newer = 0; newer < 2; newer++)
        for (const GptcSimOptions &o : {opts(0, 1), late}) {
            std::vector<float> y(x.size(), 0.0f);
            int rc = run(gptc_sim_async_groups, config1(blocks, threads, o), x.data(), y.data(), newer);
            EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
            int right = 0, nan = 0;
            for (size_t g = 0; g < y.size(); g++) right += y[g] == want[g], nan += isnan(y[g]);
            if (!newer || !o.late_async)
                EXPECT(right == (int)y.size(), "read %s, late copies %d: %d of %zu right", newer ? "b" : "a",
                       o.late_async, right, y.size());
            else  // except where the next thread had ended (its copies land then)
                EXPECT(nan >= (int)y.size() / 4, "the newest group read early under late copies: %d of %zu NaN",
                       nan, y.size());
        }
}

// Correct kernels give bit-identical results in every scheduling mode.
void test_options_keep_correct_results() {
    const int rows = 16, cols = 500;
    std::vector<float> x(rows * cols);
    for (float &v : x) v = rnd_unit();
    std::vector<int> hx(5000);
    for (int &v : hx) v = (int)(rnd() % 1000);
    std::vector<float> sums0, trans0, shift0;
    std::vector<int> bins0;
    for (const GptcSimOptions &o : kVariants) {
        std::vector<float> sums(rows), trans(rows * cols), shift(rows * cols);
        std::vector<int> bins(50, 0);
        float hsum = 0;
        int hmax = 0;
        bool ok = run(gptc_sim_row_sum, config1(rows, 256, o), x.data(), sums.data(), cols) == GPTC_SIM_OK &&
                  run(gptc_sim_transpose, config({(cols + 31) / 32, 1, 1}, {32, 8, 1}, 32 * 33 * 4, o), x.data(),
                      trans.data(), rows, cols) == GPTC_SIM_OK &&
                  run(gptc_sim_shift_fixed, config1(rows * cols / 500, 500, o), x.data(), shift.data()) ==
                      GPTC_SIM_OK &&
                  run(gptc_sim_histogram, config1(4, 64, o), hx.data(), 5000, bins.data(), 50, &hsum, &hmax) ==
                      GPTC_SIM_OK;
        EXPECT(ok, "seed %llu poison %d: %s", (unsigned long long)o.order_seed, o.poison_smem, gptc_sim_last_error());
        if (sums0.empty()) {
            sums0 = sums, trans0 = trans, shift0 = shift, bins0 = bins;
            continue;
        }
        EXPECT(memcmp(sums.data(), sums0.data(), sums.size() * 4) == 0, "row_sum changed (seed %llu poison %d)",
               (unsigned long long)o.order_seed, o.poison_smem);
        EXPECT(trans == trans0, "transpose changed (seed %llu poison %d)", (unsigned long long)o.order_seed,
               o.poison_smem);
        EXPECT(shift == shift0, "shift_fixed changed (seed %llu poison %d)", (unsigned long long)o.order_seed,
               o.poison_smem);
        EXPECT(bins == bins0, "histogram changed (seed %llu poison %d)", (unsigned long long)o.order_seed,
               o.poison_smem);
    }
}

// A kernel with no barrier runs each block as a loop: one switch into the
// block's fiber and one back, whatever the number of threads.
void test_barrier_free_blocks_are_loops() {
    const int n = 4 * 256;
    std::vector<float> x(n, 1.0f), y(n, 2.0f);
    GptcSimStats before, after;
    gptc_sim_stats(&before);
    int rc = run(gptc_sim_axpy, config1(4, 256), 3.0f, x.data(), y.data(), n);
    gptc_sim_stats(&after);
    EXPECT(rc == GPTC_SIM_OK, "%s", gptc_sim_last_error());
    for (float v : y) EXPECT(v == 5.0f, "y %g", v);
    EXPECT(after.switches - before.switches == 8, "%llu switches for 4 blocks",
           (unsigned long long)(after.switches - before.switches));
    EXPECT(after.blocks - before.blocks == 4 && after.threads - before.threads == (uint64_t)n, "block/thread counts");
}

void test_options_from_env() {
    GptcSimOptions o = GptcSimOptions();
    setenv("GPTC_SIM_SEED", "42", 1);
    setenv("GPTC_SIM_POISON", "1", 1);
    setenv("GPTC_SIM_LATE_ASYNC", "1", 1);
    EXPECT(gptc_sim_options_from_env(&o) == 0 && o.order_seed == 42 && o.poison_smem == 1 && o.late_async == 1 &&
               o.stack_kib == 0,
           "seed %llu poison %d late %d", (unsigned long long)o.order_seed, o.poison_smem, o.late_async);
    setenv("GPTC_SIM_LATE_ASYNC", "2", 1);
    EXPECT(gptc_sim_options_from_env(&o) == -1, "accepted GPTC_SIM_LATE_ASYNC=2");
    unsetenv("GPTC_SIM_LATE_ASYNC");
    setenv("GPTC_SIM_SEED", "4x", 1);
    EXPECT(gptc_sim_options_from_env(&o) == -1, "accepted GPTC_SIM_SEED=4x");
    EXPECT(contains(gptc_sim_last_error(), "sim: GPTC_SIM_SEED: expected a decimal integer"), "message: %s",
           gptc_sim_last_error());
    unsetenv("GPTC_SIM_SEED");
    setenv("GPTC_SIM_STACK_KIB", "8", 1);
    EXPECT(gptc_sim_options_from_env(&o) == -1, "accepted GPTC_SIM_STACK_KIB=8");
    unsetenv("GPTC_SIM_STACK_KIB");
    unsetenv("GPTC_SIM_POISON");
}

struct Test {
    const char *name;
    void (*fn)();
};
const Test kTests[] = {
    {"row_sum", test_row_sum},
    {"row_max", test_row_max},
    {"warp_ops", test_warp_ops},
    {"transpose_dynamic_smem", test_transpose},
    {"bf16_table", test_bf16_table},
    {"bf16_sweep", test_bf16_sweep},
    {"bf16_pairs", test_bf16_pairs},
    {"histogram_atomics", test_histogram},
    {"mma_ldmatrix_twins", test_mma},
    {"wgmma_twins", test_wgmma},
    {"wgmma_late_finds_early_reads", test_wgmma_late_finds_early_reads},
    {"wgmma_needs_the_proxy_fence", test_wgmma_needs_the_proxy_fence},
    {"movmatrix_transposes", test_movmatrix},
    {"math_whitelist", test_math_whitelist},
    {"special_ftz", test_special_ftz},
    {"api_misc", test_api_misc},
    {"divergent_barrier", test_divergent_barrier},
    {"divergent_shuffle", test_divergent_shuffle},
    {"partial_mask", test_partial_mask},
    {"two_barriers", test_two_barriers},
    {"partial_warp", test_partial_warp},
    {"bad_launches", test_bad_launches},
    {"launch_after_errors", test_launch_after_errors},
    {"missing_barrier_found_by_order", test_missing_barrier_found_by_order},
    {"uninitialised_smem_found_by_poison", test_uninitialised_smem_found_by_poison},
    {"late_copies_find_an_early_read", test_late_copies_find_an_early_read},
    {"options_keep_correct_results", test_options_keep_correct_results},
    {"barrier_free_blocks_are_loops", test_barrier_free_blocks_are_loops},
    {"options_from_env", test_options_from_env},
};

int run_tests() {
    int passed = 0, failed = 0;
    for (const Test &t : kTests) {
        g_why.clear();
        t.fn();
        if (g_why.empty()) {
            printf("ok %s\n", t.name);
            passed++;
        } else {
            printf("FAIL %s: %s\n", t.name, g_why.c_str());
            failed++;
        }
    }
    printf("sim tests: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int run_oob() {
    const int n = 100;
    float *out = (float *)malloc(n * sizeof(float));
    int rc = run(gptc_sim_oob_write, config1(1, 128), out, n);
    printf("oob: launch returned %d and nothing caught the write\n", rc);
    free(out);
    return 1;
}

// ---- speed ---------------------------------------------------------------------------

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best of three: time per launch, and switches per launch.
template <class F>
double best_time(F launch, uint64_t *switches) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        GptcSimStats a, b;
        gptc_sim_stats(&a);
        auto t0 = std::chrono::steady_clock::now();
        if (launch() != GPTC_SIM_OK) {
            fprintf(stderr, "bench: %s\n", gptc_sim_last_error());
            exit(1);
        }
        double t = seconds_since(t0);
        gptc_sim_stats(&b);
        *switches = b.switches - a.switches;
        best = t < best ? t : best;
    }
    return best;
}

int run_bench() {
    uint64_t sw;
    std::vector<int> k(1);
    // Two threads: one switch per barrier, everything in cache. 256 threads:
    // 256 stacks in turn, as in real kernels.
    for (unsigned threads : {2u, 256u}) {
        int iters = (int)(1000000 / threads);
        double t = best_time([&] { return run(gptc_sim_barrier_loop, config1(1, threads), iters, k.data()); }, &sw);
        printf("bench: fiber switches, %u threads x %d barriers: %.1f M/s (%.1f ns each, barrier included)\n",
               threads, iters, sw / t / 1e6, t / sw * 1e9);
    }

    const int rows = 1024, cols = 1024;
    std::vector<float> x(rows * cols), out(rows);
    for (float &v : x) v = rnd_unit();
    double t = best_time([&] { return run(gptc_sim_row_sum, config1(rows, 256), x.data(), out.data(), cols); }, &sw);
    printf("bench: row_sum 1024 blocks x 256 threads (1024 floats a row): %.1f ms, %llu switches, %.1f ns/switch "
           "all in\n",
           t * 1e3, (unsigned long long)sw, t / sw * 1e9);
    t = best_time([&] { return run(gptc_sim_row_sum, config1(rows, 256, opts(1, 1)), x.data(), out.data(), cols); },
                  &sw);
    printf("bench: row_sum, same, random order + poisoned smem: %.1f ms\n", t * 1e3);

    std::vector<float> y(rows * 256, 0.0f);
    const int n = rows * 256;
    t = best_time([&] { return run(gptc_sim_axpy, config1(rows, 256), 2.0f, x.data(), y.data(), n); }, &sw);
    printf("bench: axpy 1024 blocks x 256 threads (no barrier, runs as a loop): %.2f ms, %.1f ns/thread\n", t * 1e3,
           t / n * 1e9);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--oob") == 0) return run_oob();
    if (argc == 2 && strcmp(argv[1], "--bench") == 0) return run_bench();
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--oob | --bench]\n", argv[0]);
        return 2;
    }
    return run_tests();
}
