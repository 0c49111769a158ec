// cuda_emu.cc: the scheduler behind cuda_emu.h, and the C API of sim.h.
//
// A launch runs its blocks one after another on the calling OS thread. The
// threads of a block are fibers: each runs the kernel until it waits at a
// barrier or warp collective, then hands over to the next ready thread.
// Every wait is counted: a block barrier completes when all threads of the
// block have arrived, a warp collective when all lanes of the warp have, and
// the last to arrive makes the others ready again. When no thread is ready
// and not all have finished, some barrier or collective can never complete
// (a thread returned early, or took another branch): the launch fails with
// a message naming the kernel, the operation, its source line and how many
// threads reached it. Two threads waiting at different barriers (different
// source lines) fail at once, and so does a mask other than 0xffffffff.
//
// Fibers are cheap when a kernel has no barrier: a thread that finishes
// starts the next unstarted thread itself, on the same stack, without a
// context switch, so such a block runs as a plain loop over its threads.
// The context switch is a few instructions of x86-64 assembly (ucontext
// elsewhere, or with -DGPTC_SIM_UCONTEXT), annotated for AddressSanitizer so
// that ASan follows the stacks. With GptcSimOptions.order_seed the next
// thread at every scheduling point and the block order are random (and
// reproducible); with poison_smem all shared memory is 0xFF at block start;
// with late_async a cp.async copy lands, and a warpgroup product runs, only
// when its thread waits for its group (a copy also when the thread ends).
#include "cuda_emu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define GPTC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GPTC_ASAN 1
#endif
#endif
#ifdef GPTC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__) && !defined(GPTC_SIM_UCONTEXT)
#define GPTC_SIM_UCONTEXT 1
#endif
#ifdef GPTC_SIM_UCONTEXT
#include <ucontext.h>
#else
// gptc_emu_switch(save, load): pushes the System V callee-saved registers,
// stores the stack pointer in *save, loads `load` and pops the same
// registers from there. Everything else is caller-saved, so this is a whole
// context switch; a fresh stack is laid out to look like one saved here.
extern "C" void gptc_emu_switch(void **save, void *load);
asm(".text\n"
    ".globl gptc_emu_switch\n"
    ".hidden gptc_emu_switch\n"
    ".type gptc_emu_switch, @function\n"
    "gptc_emu_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size gptc_emu_switch, .-gptc_emu_switch\n");
#endif

namespace gptc_emu {

Current g_cur;

namespace {

struct Thread;

struct Fiber {
#ifdef GPTC_SIM_UCONTEXT
    ucontext_t uc;
#else
    void *sp;  // saved by gptc_emu_switch while switched out
#endif
    unsigned char *map;  // guard page, then the stack
    size_t map_size;
    const void *stack_lo;  // the usable stack, as ASan wants it
    size_t stack_size;
    // Where the stack starts below its top: stacks are page-aligned, and
    // the first frames of hundreds of fibers at the same page offset would
    // all compete for one L1 cache set.
    size_t color;
#ifdef GPTC_ASAN
    void *asan_fake;  // ASan's fake stack while switched out
    // Frames that never returned (a dead fiber's last ones) leave redzones in
    // ASan's shadow, and an instrumented prologue does not clear the shadow
    // of its own variables: [asan_dirty, top) is cleared before (re)use.
    const unsigned char *asan_dirty;
#endif
    Thread *thread;
};

enum State : unsigned char { UNSTARTED, READY, RUNNING, WAITING, DONE };
enum Wait : unsigned char { AT_NOTHING, AT_BARRIER, AT_WARP };

// A cp.async copy not landed yet (GptcSimOptions.late_async).
struct Copy {
    unsigned char *dst;
    const unsigned char *src;
    unsigned bytes, group;
    bool valid;
};

// A warpgroup product not run yet (late_async).
struct Product {
    void (*run)(const void *ctx);
    unsigned group;
    alignas(16) unsigned char ctx[LATE_CTX];
};

struct Thread {
    uint3 idx;
    unsigned lane, warp;
    State state;
    Wait waits;
    Site site;  // where it waits, for the messages
    Fiber *fiber;
    std::vector<Copy> copies;  // in the order issued, so by group
    unsigned groups;           // cp.async groups committed
    std::vector<Product> products;  // the same for warpgroup products
    unsigned product_groups;
    std::vector<uint32_t> unfenced;  // dynamic smem granules its copies wrote since its last proxy fence
};

struct Warp {
    unsigned lanes;    // 32, or fewer in the last warp of an odd-sized block
    unsigned arrived;  // lanes waiting at the current collective
    // A lane's value of collective k lives in value[k % 2] until every lane
    // has read it: a lane cannot reach collective k + 2 before all lanes have
    // arrived at k + 1, and each lane reads k before it goes on.
    unsigned parity;
    Site site;
    Thread *waiting[32];
    uint32_t value[2][32];
};

void free_fibers();

struct Emu {
    ~Emu() { free_fibers(); }

    std::mutex lock;  // one launch at a time: static smem is per process

    const char *kernel;
    void (*body)(void *);
    void *ctx;
    bool random, late_async;
    // Per 16 bytes of dynamic shared memory: 0, or 1 + the thread whose
    // cp.async copy wrote them with no fence_proxy_async of that thread
    // since (what wgmma, reading through the async proxy, may not see).
    std::vector<uint16_t> unfenced;
    size_t dyn_bytes;
    uint64_t rng;
    unsigned nthreads;
    std::vector<Thread> threads;
    std::vector<Warp> warps;

    // Ready threads, a ring of nthreads slots (a thread is in it at most once).
    std::vector<Thread *> ready;
    unsigned ready_head, ready_count;
    std::vector<Thread *> bar_waiting;
    unsigned bar_arrived;
    Site bar_site;
    unsigned done;

    Fiber main;  // the launching OS thread's own stack
    Fiber *running, *prev;
    Thread *cur;
    std::vector<Fiber *> pool, all;
    size_t stack_bytes;

    int status;
    char error[640];
    GptcSimStats stats;
};

Emu E;
thread_local char t_error[640];

uint64_t next_random() {  // splitmix64
    uint64_t z = (E.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

const char *block_str() {
    static char s[48];
    snprintf(s, sizeof s, "(%u,%u,%u)", g_cur.block.x, g_cur.block.y, g_cur.block.z);
    return s;
}

void set_error(int status, const char *fmt, va_list ap) {
    int n = snprintf(E.error, sizeof E.error, "sim: kernel %s: ", E.kernel);
    vsnprintf(E.error + n, sizeof E.error - (size_t)n, fmt, ap);
    E.status = status;
}

void set_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void set_error(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(status, fmt, ap);
    va_end(ap);
}

// ---- fibers ------------------------------------------------------------------

[[noreturn]] void fiber_entry();

// Called right after every switch, on the stack switched to.
void switched_in() {
#ifdef GPTC_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(E.running->asan_fake, &lo, &size);
    if (E.prev == &E.main) {  // the launcher's stack, needed to switch back
        E.main.stack_lo = lo;
        E.main.stack_size = size;
    }
#endif
}

// `dying`: `from` is never resumed (its thread finished, or the launch failed
// in it), so ASan may drop its fake stack.
void switch_to(Fiber *from, Fiber *to, bool dying) {
    E.stats.switches++;
    E.prev = from;
    E.running = to;
#ifdef GPTC_ASAN
    // Below this frame lie only the few frames the switch itself needs.
    if (dying && from != &E.main)
        from->asan_dirty = (const unsigned char *)__builtin_frame_address(0) - 4096;
    __sanitizer_start_switch_fiber(dying ? nullptr : &from->asan_fake, to->stack_lo, to->stack_size);
#else
    (void)dying;
#endif
#ifdef GPTC_SIM_UCONTEXT
    swapcontext(&from->uc, &to->uc);
#else
    gptc_emu_switch(&from->sp, to->sp);
#endif
    switched_in();
}

void prepare(Fiber *f) {
#ifdef GPTC_ASAN
    f->asan_fake = nullptr;
    if (f->asan_dirty) {
        const unsigned char *lo = (const unsigned char *)f->stack_lo, *end = lo + f->stack_size;
        if (f->asan_dirty > lo) lo = f->asan_dirty;
        ASAN_UNPOISON_MEMORY_REGION(lo, (size_t)(end - lo));
        f->asan_dirty = nullptr;
    }
#endif
#ifdef GPTC_SIM_UCONTEXT
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = const_cast<void *>(f->stack_lo);
    f->uc.uc_stack.ss_size = f->stack_size - f->color;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, fiber_entry, 0);
#else
    // What gptc_emu_switch pops: six registers, then the address it returns
    // to. Above that a null return address for fiber_entry, which ends
    // stack unwinding there and leaves rsp as after a call (16n + 8).
    uintptr_t top = ((uintptr_t)f->stack_lo + f->stack_size - f->color) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;
    *--sp = (void *)&fiber_entry;
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f->sp = sp;
#endif
}

void free_fibers() {
    for (Fiber *f : E.all) {
        munmap(f->map, f->map_size);
        delete f;
    }
    E.all.clear();
    E.pool.clear();
}

// Makes sure `n` fibers with stacks of `bytes` are in the pool, so that
// nothing is allocated while fibers run. Stacks are reserved, not committed:
// a page costs memory only once a thread touches it.
bool reserve_fibers(unsigned n, size_t bytes) {
    if (bytes != E.stack_bytes) {
        free_fibers();
        E.stack_bytes = bytes;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    while (E.all.size() < n) {
        size_t size = bytes + page;
        void *m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) return false;
        // A kernel that overflows its stack hits this page and crashes at
        // once, instead of corrupting the fiber below it.
        mprotect(m, page, PROT_NONE);
        Fiber *f = new Fiber();
        f->map = (unsigned char *)m;
        f->map_size = size;
        f->stack_lo = f->map + page;
        f->stack_size = bytes;
        f->color = E.all.size() % 64 * 64;
#ifdef GPTC_ASAN
        // The mapping may reuse the addresses of stacks unmapped earlier,
        // whose shadow still holds their frames' redzones.
        f->asan_dirty = f->map + page;
#endif
        E.all.push_back(f);
        E.pool.push_back(f);
    }
    return true;
}

// ---- scheduling --------------------------------------------------------------

void push_ready(Thread *t) {
    unsigned slot = E.ready_head + E.ready_count++;
    if (slot >= E.nthreads) slot -= E.nthreads;
    t->state = READY;
    E.ready[slot] = t;
}

Thread *pop_ready() {
    if (E.ready_count == 0) return nullptr;
    if (E.random) {
        unsigned k = E.ready_head + (unsigned)(next_random() % E.ready_count);
        if (k >= E.nthreads) k -= E.nthreads;
        Thread *t = E.ready[k];
        E.ready[k] = E.ready[E.ready_head];
        E.ready[E.ready_head] = t;
    }
    Thread *t = E.ready[E.ready_head];
    if (++E.ready_head == E.nthreads) E.ready_head = 0;
    E.ready_count--;
    return t;
}

void resume_as(Thread *t) {
    E.cur = t;
    t->state = RUNNING;
    t->waits = AT_NOTHING;
    g_cur.thread = t->idx;
}

void diagnose_deadlock();

// Leaves fiber `from` for thread `next`, or for the launcher when no thread
// is ready: then the block has finished, or is stuck.
void leave(Fiber *from, Thread *next, bool dying) {
    if (!next) {
        if (E.done != E.nthreads) {
            diagnose_deadlock();
            dying = true;
        }
        switch_to(from, &E.main, dying);
        return;
    }
    if (next->fiber == from) return;  // a random pick of the thread that yielded
    if (!next->fiber) {
        Fiber *f = E.pool.back();
        E.pool.pop_back();
        prepare(f);
        f->thread = next;
        next->fiber = f;
    }
    switch_to(from, next->fiber, dying);
}

// The running thread `me`, already marked WAITING or READY, lets others run
// until it is picked again.
void wait(Thread *me) {
    leave(me->fiber, pop_ready(), false);
    resume_as(me);
}

[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *thread_str(const Thread *t);

// Thread t's mark in E.unfenced.
uint16_t unfenced_mark(const Thread *t) { return (uint16_t)(t - E.threads.data() + 1); }

// The byte offset of p in dynamic shared memory, or false when it is not
// there.
bool dyn_offset(const void *p, size_t *off) {
    const unsigned char *lo = g_cur.dyn_smem, *a = (const unsigned char *)p;
    if (a < lo || a >= lo + E.dyn_bytes) return false;
    *off = (size_t)(a - lo);
    return true;
}

// How many of a queue's entries (in the order issued, so by group) belong
// to the groups below `group`.
template <class T>
size_t below(const std::vector<T> &queue, unsigned group) {
    size_t n = 0;
    while (n < queue.size() && queue[n].group < group) n++;
    return n;
}

// Thread t's copy lands: its bytes, and where they are dynamic shared
// memory, the mark that wgmma may not read them until t fences.
void land(Thread *t, unsigned char *dst, const void *src, unsigned bytes, bool valid) {
    if (valid) memcpy(dst, src, bytes);
    else memset(dst, 0, bytes);
    size_t off;
    if (!dyn_offset(dst, &off)) return;
    for (size_t g = off / 16; g <= (off + bytes - 1) / 16; g++) {
        if (E.unfenced[g] != unfenced_mark(t)) t->unfenced.push_back((uint32_t)g);
        E.unfenced[g] = unfenced_mark(t);
    }
}

// Lands thread t's copies of the groups below `group`, in the order
// issued.
void land_copies(Thread *t, unsigned group) {
    const size_t n = below(t->copies, group);
    for (size_t i = 0; i < n; i++) land(t, t->copies[i].dst, t->copies[i].src, t->copies[i].bytes, t->copies[i].valid);
    t->copies.erase(t->copies.begin(), t->copies.begin() + (ptrdiff_t)n);
}

[[noreturn]] void fiber_entry() {
    switched_in();
    Fiber *f = E.running;
    for (;;) {
        Thread *t = f->thread;
        resume_as(t);
        E.body(E.ctx);
        land_copies(t, UINT32_MAX);
        if (!t->products.empty())
            fail("thread %s at block %s ended with %zu warpgroup products never waited for (wg_wait)",
                 thread_str(t), block_str(), t->products.size());
        t->state = DONE;
        t->fiber = nullptr;
        E.done++;
        Thread *next = pop_ready();
        if (next && !next->fiber) {  // unstarted: run it here, no switch
            f->thread = next;
            next->fiber = f;
            continue;
        }
        E.pool.push_back(f);  // reused only after the switch below
        leave(f, next, true);
    }
}

// Fails the launch from inside a kernel: back to the launcher, for good.
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(GPTC_SIM_ERR_KERNEL, fmt, ap);
    va_end(ap);
    switch_to(E.running, &E.main, true);
    __builtin_unreachable();
}

// Equal string literals are usually one object, so the pointer test settles
// nearly every call without strcmp.
bool same_site(const Site &a, const Site &b) {
    return a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0) &&
           (a.op == b.op || strcmp(a.op, b.op) == 0);
}

const char *thread_str(const Thread *t) {
    static char s[2][48];
    static int k;
    k ^= 1;
    snprintf(s[k], sizeof s[k], "(%u,%u,%u)", t->idx.x, t->idx.y, t->idx.z);
    return s[k];
}

// What a thread that is missing at a barrier or collective is doing instead.
const char *doing(const Thread *t) {
    static char s[320];
    if (t->state == DONE) return "exited";
    if (t->state == WAITING)
        snprintf(s, sizeof s, "waits at %s at %s:%d", t->site.op, t->site.file, t->site.line);
    else
        snprintf(s, sizeof s, "is still running");
    return s;
}

void diagnose_deadlock() {
    for (unsigned w = 0; w < E.warps.size(); w++) {
        const Warp &wp = E.warps[w];
        if (wp.arrived == 0) continue;
        for (unsigned l = 0; l < wp.lanes; l++) {
            const Thread *t = &E.threads[w * 32 + l];
            if (t->state == WAITING && t->waits == AT_WARP) continue;
            set_error(GPTC_SIM_ERR_KERNEL,
                      "%s at %s:%d reached by %u of %u lanes of warp %u (divergent warp collective) "
                      "at block %s; lane %u %s",
                      wp.site.op, wp.site.file, wp.site.line, wp.arrived, wp.lanes, w, block_str(), l, doing(t));
            return;
        }
    }
    for (const Thread &t : E.threads) {
        if (t.state == WAITING && t.waits == AT_BARRIER) continue;
        set_error(GPTC_SIM_ERR_KERNEL,
                  "%s at %s:%d reached by %u of %u threads (divergent barrier) at block %s; thread %s %s",
                  E.bar_site.op, E.bar_site.file, E.bar_site.line, E.bar_arrived, E.nthreads, block_str(),
                  thread_str(&t), doing(&t));
        return;
    }
}

// The running thread arrives at a warp collective with `value`; returns the
// values of all lanes once every lane has arrived.
const uint32_t *exchange(Site s, unsigned mask, uint32_t value) {
    Thread *me = E.cur;
    Warp &w = E.warps[me->warp];
    if (mask != 0xffffffffu)
        fail("%s at %s:%d: mask 0x%08x at block %s, thread %s: only the full mask 0xffffffff is supported", s.op,
             s.file, s.line, mask, block_str(), thread_str(me));
    if (w.arrived == 0) {
        w.site = s;
    } else if (!same_site(w.site, s)) {
        fail("divergent warp collective at block %s: lane %u of warp %u reached %s at %s:%d while lanes of its "
             "warp wait at %s at %s:%d",
             block_str(), me->lane, me->warp, s.op, s.file, s.line, w.site.op, w.site.file, w.site.line);
    }
    unsigned par = w.parity;
    w.value[par][me->lane] = value;
    me->site = s;
    if (++w.arrived < w.lanes) {
        w.waiting[w.arrived - 1] = me;
        me->state = WAITING;
        me->waits = AT_WARP;
        wait(me);
    } else {
        w.arrived = 0;
        w.parity ^= 1;
        for (unsigned i = 0; i + 1 < w.lanes; i++) push_ready(w.waiting[i]);
        if (E.random) {
            push_ready(me);
            wait(me);
        }
    }
    return w.value[par];
}

}  // namespace

// ---- what kernels call (cuda_emu.h) -----------------------------------------

void async_copy(void *dst, const void *src, unsigned bytes, bool valid) {
    Thread *me = E.cur;
    if (!E.late_async) {
        land(me, (unsigned char *)dst, src, bytes, valid);
        return;
    }
    me->copies.push_back({(unsigned char *)dst, (const unsigned char *)src, bytes, me->groups, valid});
}

void async_commit() { E.cur->groups++; }

void async_wait(unsigned pending) {
    Thread *me = E.cur;
    if (me->groups > pending) land_copies(me, me->groups - pending);
}

void proxy_fence() {
    Thread *me = E.cur;
    for (uint32_t g : me->unfenced)
        if (E.unfenced[g] == unfenced_mark(me)) E.unfenced[g] = 0;
    me->unfenced.clear();
}

void proxy_read(const void *p) {
    size_t off;
    if (!dyn_offset(p, &off)) return;
    if (const uint16_t who = E.unfenced[off / 16])
        fail("a warpgroup product at block %s, thread %s, reads shared memory at byte %zu, which thread %s's "
             "cp.async wrote with no fence_proxy_async of that thread since",
             block_str(), thread_str(E.cur), off, thread_str(&E.threads[who - 1u]));
}

bool late_products() { return E.late_async; }

void late_product(void (*run)(const void *ctx), const void *ctx, unsigned bytes) {
    Thread *me = E.cur;
    if (bytes > LATE_CTX) fail("a late product's context of %u bytes (at most %u)", bytes, LATE_CTX);
    Product p;
    p.run = run;
    p.group = me->product_groups;
    memcpy(p.ctx, ctx, bytes);
    me->products.push_back(p);
}

void late_commit() { E.cur->product_groups++; }

// Runs the products of the groups below `group`; each may shuffle within
// its warp, where every lane runs the same ones in the same order.
void late_wait(unsigned pending) {
    Thread *me = E.cur;
    if (me->product_groups <= pending) return;
    const size_t n = below(me->products, me->product_groups - pending);
    // Each runs from a copy on this stack: nothing here to leak if one
    // fails the launch (the thread's own queue is the launch's to free).
    for (size_t i = 0; i < n; i++) {
        const Product p = me->products[i];
        p.run(p.ctx);
    }
    me->products.erase(me->products.begin(), me->products.begin() + (ptrdiff_t)n);
}

void barrier(Site s) {
    Thread *me = E.cur;
    if (E.bar_arrived == 0) {
        E.bar_site = s;
    } else if (!same_site(E.bar_site, s)) {
        fail("divergent barrier at block %s: thread %s reached %s at %s:%d while other threads wait at %s at %s:%d",
             block_str(), thread_str(me), s.op, s.file, s.line, E.bar_site.op, E.bar_site.file, E.bar_site.line);
    }
    me->site = s;
    if (++E.bar_arrived < E.nthreads) {
        E.bar_waiting[E.bar_arrived - 1] = me;
        me->state = WAITING;
        me->waits = AT_BARRIER;
        wait(me);
        return;
    }
    E.bar_arrived = 0;
    for (unsigned i = 0; i + 1 < E.nthreads; i++) push_ready(E.bar_waiting[i]);
    if (E.random) {
        push_ready(me);
        wait(me);
    }
}

void syncwarp(Site s, unsigned mask) { exchange(s, mask, 0); }

uint32_t shfl(Site s, unsigned mask, uint32_t value, ShflKind kind, int arg, int width) {
    Thread *me = E.cur;
    if (width < 1 || width > 32 || (width & (width - 1)))
        fail("%s at %s:%d: width %d is not a power of 2 from 1 to 32", s.op, s.file, s.line, width);
    const uint32_t *all = exchange(s, mask, value);
    // The source lane, as CUDA's programming guide defines it per kind: lanes
    // form groups of `width`; a source outside the group gives the caller's
    // own value (idx wraps around inside the group instead).
    // The hardware takes the lane argument's low 5 bits (PTX shfl.sync).
    unsigned lane = me->lane, w = (unsigned)width, base = lane & ~(w - 1), d = (unsigned)arg & 31u, src = lane;
    switch (kind) {
    case SHFL_IDX: src = base + (d & (w - 1)); break;
    case SHFL_UP: src = lane - base >= d ? lane - d : lane; break;
    case SHFL_DOWN: src = d < w - (lane - base) ? lane + d : lane; break;
    case SHFL_XOR: src = (lane ^ d) < base + w ? lane ^ d : lane; break;
    }
    unsigned lanes = E.warps[me->warp].lanes;
    if (src >= lanes)
        fail("%s at %s:%d: lane %u of warp %u at block %s reads lane %u, which does not exist (the warp has %u "
             "threads)",
             s.op, s.file, s.line, lane, me->warp, block_str(), src, lanes);
    return all[src];
}

unsigned vote(Site s, unsigned mask, int pred, VoteKind kind) {
    Thread *me = E.cur;
    const uint32_t *all = exchange(s, mask, pred != 0);
    unsigned lanes = E.warps[me->warp].lanes, ballot = 0;
    for (unsigned i = 0; i < lanes; i++) ballot |= all[i] << i;
    switch (kind) {
    case VOTE_ANY: return ballot != 0;
    case VOTE_ALL: return ballot == (lanes == 32 ? 0xffffffffu : (1u << lanes) - 1);
    case VOTE_BALLOT: break;
    }
    return ballot;
}

// ---- launching -----------------------------------------------------------------

namespace {

const unsigned MAX_THREADS = 1024;
const size_t MAX_SMEM = 227 * 1024;  // sm_90's most per block (opt-in)

bool check_config(const GptcSimLaunch *l) {
    const GptcSimDim3 &g = l->grid, &b = l->block;
    uint64_t threads = (uint64_t)b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
        set_error(GPTC_SIM_ERR_CONFIG, "invalid launch: grid (%u,%u,%u) (each at least 1, at most (2^31-1,65535,65535))",
                  g.x, g.y, g.z);
    else if (!b.x || !b.y || !b.z || b.x > 1024 || b.y > 1024 || b.z > 64 || threads > MAX_THREADS)
        set_error(GPTC_SIM_ERR_CONFIG, "invalid launch: block (%u,%u,%u) has %llu threads (at most %u, z at most 64)",
                  b.x, b.y, b.z, (unsigned long long)threads, MAX_THREADS);
    else if (l->smem_bytes > MAX_SMEM)
        set_error(GPTC_SIM_ERR_CONFIG, "invalid launch: %zu bytes of dynamic shared memory (at most %zu)",
                  l->smem_bytes, MAX_SMEM);
    else if (l->opt.stack_kib && (l->opt.stack_kib < 16 || l->opt.stack_kib > 65536))
        set_error(GPTC_SIM_ERR_CONFIG, "invalid launch: stack_kib %u (16 to 65536)", l->opt.stack_kib);
    return E.status == GPTC_SIM_OK;
}

// The threads' indices, warps and scratch, the same for every block.
void setup_threads(const GptcSimDim3 &b) {
    unsigned n = b.x * b.y * b.z;
    E.nthreads = n;
    E.threads.assign(n, Thread());
    for (unsigned i = 0; i < n; i++) {
        Thread &t = E.threads[i];
        t.idx = {i % b.x, i / b.x % b.y, i / (b.x * b.y)};
        t.lane = i & 31;
        t.warp = i >> 5;
    }
    E.warps.assign((n + 31) / 32, Warp());
    for (unsigned w = 0; w < E.warps.size(); w++) E.warps[w].lanes = n - 32 * w < 32 ? n - 32 * w : 32;
    E.ready.assign(n, nullptr);
    E.bar_waiting.assign(n, nullptr);
}

void start_block() {
    for (unsigned i = 0; i < E.nthreads; i++) {
        Thread &t = E.threads[i];
        t.state = UNSTARTED;
        t.waits = AT_NOTHING;
        t.fiber = nullptr;
        t.copies.clear();
        t.groups = 0;
        t.products.clear();
        t.product_groups = 0;
        t.unfenced.clear();
        E.ready[i] = &t;
    }
    E.ready_head = 0;
    E.ready_count = E.nthreads;
    std::fill(E.unfenced.begin(), E.unfenced.end(), 0);
    for (Warp &w : E.warps) w.arrived = w.parity = 0;
    E.bar_arrived = 0;
    E.done = 0;
}

// After a failure: the stacks of threads that never finished go back to the
// pool, with all of their ASan shadow to clear (abandoned frames).
void recycle_fibers() {
    for (Thread &t : E.threads) {
        if (!t.fiber) continue;
#ifdef GPTC_ASAN
        t.fiber->asan_dirty = (const unsigned char *)t.fiber->stack_lo;
#endif
        E.pool.push_back(t.fiber);
        t.fiber = nullptr;
    }
}

uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

void run_blocks(const GptcSimLaunch *l, unsigned char *smem_lo, unsigned char *smem_hi) {
    const GptcSimDim3 &g = l->grid;
    uint64_t nblocks = (uint64_t)g.x * g.y * g.z, mul = 1, add = 0;
    if (E.random && nblocks > 1) {
        // Block i runs as (mul * i + add) mod nblocks: a permutation when mul
        // and nblocks are coprime, drawn from the seed without a table.
        do mul = 1 + next_random() % (nblocks - 1);
        while (gcd(mul, nblocks) != 1);
        add = next_random() % nblocks;
    }
    size_t smem_static = smem_lo && smem_hi > smem_lo ? (size_t)(smem_hi - smem_lo) : 0;
    for (uint64_t i = 0; i < nblocks && E.status == GPTC_SIM_OK; i++) {
        uint64_t b = (uint64_t)(((unsigned __int128)mul * i + add) % nblocks);
        g_cur.block = {(unsigned)(b % g.x), (unsigned)(b / g.x % g.y), (unsigned)(b / ((uint64_t)g.x * g.y))};
        if (l->opt.poison_smem) {
            if (smem_static) memset(smem_lo, 0xff, smem_static);
            memset(g_cur.dyn_smem, 0xff, l->smem_bytes);
        }
        start_block();
        leave(&E.main, pop_ready(), false);
        E.stats.blocks++;
        E.stats.threads += E.nthreads;
    }
}

}  // namespace

int launch(const char *kernel, const GptcSimLaunch *l, void (*body)(void *), void *ctx, unsigned char *smem_lo,
           unsigned char *smem_hi) {
    std::lock_guard<std::mutex> guard(E.lock);
    E.kernel = kernel;
    E.status = GPTC_SIM_OK;
    if (check_config(l)) {
        setup_threads(l->block);
        size_t stack = l->opt.stack_kib ? (size_t)l->opt.stack_kib << 10 : (size_t)64 << 10;
#ifdef GPTC_ASAN
        if (!l->opt.stack_kib) stack *= 4;  // instrumented frames are larger
#endif
        // Exactly the size asked for, so that ASan sees overruns.
        void *dyn = nullptr;
        if (posix_memalign(&dyn, 16, l->smem_bytes ? l->smem_bytes : 1) != 0)
            set_error(GPTC_SIM_ERR_CONFIG, "out of memory for %zu bytes of shared memory", l->smem_bytes);
        else if (!reserve_fibers(E.nthreads, stack))
            set_error(GPTC_SIM_ERR_CONFIG, "cannot map %u fiber stacks of %zu KiB", E.nthreads, stack >> 10);
        if (E.status == GPTC_SIM_OK) {
            memset(dyn, 0, l->smem_bytes);
            E.body = body;
            E.ctx = ctx;
            E.random = l->opt.order_seed != 0;
            E.late_async = l->opt.late_async != 0;
            E.rng = l->opt.order_seed;
            g_cur.block_dim = dim3(l->block.x, l->block.y, l->block.z);
            g_cur.grid_dim = dim3(l->grid.x, l->grid.y, l->grid.z);
            g_cur.dyn_smem = (unsigned char *)dyn;
            E.dyn_bytes = l->smem_bytes;
            E.unfenced.assign((l->smem_bytes + 15) / 16, 0);
            run_blocks(l, smem_lo, smem_hi);
            recycle_fibers();
        }
        free(dyn);
        g_cur.dyn_smem = nullptr;
        E.cur = nullptr;
    }
    E.stats.launches++;
    if (E.status != GPTC_SIM_OK) memcpy(t_error, E.error, sizeof t_error);
    return E.status;
}

}  // namespace gptc_emu

// ---- the C API (sim.h) ----------------------------------------------------------

namespace {

// Reads the decimal integer in variable `name` into *out when it is set.
// Returns false, with the error message, when it is set but not a decimal
// integer from lo to hi.
bool env_number(const char *name, uint64_t lo, uint64_t hi, uint64_t *out, bool *set) {
    const char *s = getenv(name);
    *set = s != nullptr;
    if (!s) return true;
    uint64_t v = 0;
    bool ok = *s != 0 && strlen(s) <= 20;
    for (const char *p = s; ok && *p; p++) {
        unsigned digit = (unsigned)(*p - '0');
        ok = digit < 10 && v <= (UINT64_MAX - digit) / 10;
        v = v * 10 + digit;
    }
    if (ok && v >= lo && v <= hi) {
        *out = v;
        return true;
    }
    snprintf(gptc_emu::t_error, sizeof gptc_emu::t_error,
             "sim: %s: expected a decimal integer from %llu to %llu, found '%.40s'", name, (unsigned long long)lo,
             (unsigned long long)hi, s);
    return false;
}

}  // namespace

extern "C" int gptc_sim_options_from_env(GptcSimOptions *opt) {
    uint64_t seed, poison, late, stack;
    bool has_seed, has_poison, has_late, has_stack;
    if (!env_number("GPTC_SIM_SEED", 0, UINT64_MAX, &seed, &has_seed) ||
        !env_number("GPTC_SIM_POISON", 0, 1, &poison, &has_poison) ||
        !env_number("GPTC_SIM_LATE_ASYNC", 0, 1, &late, &has_late) ||
        !env_number("GPTC_SIM_STACK_KIB", 16, 65536, &stack, &has_stack))
        return -1;
    if (has_seed) opt->order_seed = seed;
    if (has_poison) opt->poison_smem = (int)poison;
    if (has_late) opt->late_async = (int)late;
    if (has_stack) opt->stack_kib = (unsigned)stack;
    return 0;
}

extern "C" const char *gptc_sim_last_error(void) { return gptc_emu::t_error; }

extern "C" void gptc_sim_stats(GptcSimStats *out) {
    std::lock_guard<std::mutex> guard(gptc_emu::E.lock);
    *out = gptc_emu::E.stats;
}
