"""
bench_torch.py: times the PyTorch reference's training step (gptc_ref.py) on
a gptc model, for `make bench` (scripts/bench-ref.sh), so that gptc's `ref`
executor can be compared with PyTorch on the same model, the same batch
shape, the same tokens and the same number of threads.

One timed step is what `gptc train` times as step_ms: for each of the
train.ranks slices of train.tokens_per_rank tokens, forward and backward
(the slices one after another, gradients summed into .grad, then divided by
ranks, as gptc's ref does), then the optimizer step (AdamW groups for head,
tables and scalars, Muon with Newton-Schulz for the block matrices), all in
float32. Step i uses the windows, learning rates and momentum of training
step i, and, with real data, the batch gptc's loader gives step i (the
shards of train.data.train, in sorted order, from position 0; see
runtime/data/data.h), so both sides see the same tokens.

Usage (Debian's torch is /usr/bin/python3's):
  /usr/bin/python3 tests/reference/bench_torch.py models/tiny.yaml \
      --threads 2 --steps 20 --warmup 3 [--set KEY=VALUE ...] [--random]

Prints human-readable lines on stderr and, last on stdout, one line
  BENCH_TORCH {"median_step_ms": ..., "tokens_per_s": ..., ...}
with the per-step times (warm-up steps excluded) for the caller to pool.

Settings, chosen to give PyTorch its best reasonable CPU speed, not to
handicap it: float32 everywhere; no anomaly mode, no profiler, no hooks;
torch.set_num_threads(T) and torch.set_num_interop_threads(1); gradients
reset with set_to_none; AdamW with foreach=True where that is faster (see
--adam-foreach); the rotary table, which depends only on T, built once (gptc
builds it once too). torch 1.13 has neither torch.compile nor
F.scaled_dot_product_attention, so attention is the reference's einsum and
masked softmax. Debian's torch calls its matrix products through OpenBLAS
(libblas.so.3); torch.set_num_threads does not reach OpenBLAS, so this
script sets OPENBLAS_NUM_THREADS=T before torch is loaded (unless the caller
set it), which gives the BLAS the same thread count as everything else.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="the model file, e.g. models/tiny.yaml")
    ap.add_argument("--gptc", default="build/gptc", help="gptc binary (for the spec)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="timed steps (after warm-up)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a model key override, passed to gptc check")
    ap.add_argument("--random", action="store_true",
                    help="uniform random tokens instead of the model's training shards")
    ap.add_argument("--seed", type=int, default=0, help="for the weights and --random")
    ap.add_argument("--adam-foreach", choices=["on", "off"], default="on",
                    help="torch.optim.AdamW(foreach=...) (default on)")
    return ap.parse_args()


ARGS = parse_args()
# Before torch (and its OpenBLAS) loads: the BLAS pool size is read once.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gptc_ref as R  # noqa: E402

SHARD_MAGIC, SHARD_VERSION, HEADER_INTS = 20240520, 1, 256


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load_spec(args):
    cmd = [args.gptc, "check", args.model, "--json"]
    for kv in args.set:
        cmd += ["--set", kv]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)["spec"]


def read_shard(path):
    """The tokens of one shard: 256 little-endian int32 header (magic,
    version, count, zeros), then count uint16 tokens."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(HEADER_INTS * 4), dtype="<i4")
        if header[0] != SHARD_MAGIC or header[1] != SHARD_VERSION:
            raise SystemExit("%s: not a token shard (magic %d, version %d)"
                             % (path, header[0], header[1]))
        toks = np.frombuffer(f.read(), dtype="<u2")
    if len(toks) != header[2]:
        raise SystemExit("%s: header says %d tokens, file holds %d" % (path, header[2], len(toks)))
    return toks.astype(np.int64)


class Batches:
    """gptc's loader (runtime/data/data.h): batch = ranks x T tokens; rank r reads
    tokens[pos + rT, pos + rT + T + 1); pos += ranks T; before a batch, if
    pos + ranks T + 1 >= len, the next shard at 0. Wraps to the first shard
    at the end (a benchmark, not a training run)."""

    def __init__(self, pattern, ranks, T):
        self.paths = sorted(glob.glob(pattern))
        if not self.paths:
            raise SystemExit("no shards match %s (make data/demo/demo_train_000001.bin)" % pattern)
        self.ranks, self.T, self.B = ranks, T, ranks * T
        self.shard, self.pos = 0, 0
        self.toks = read_shard(self.paths[0])

    def current(self):
        out = []
        for r in range(self.ranks):
            a = self.pos + r * self.T
            chunk = torch.from_numpy(self.toks[a:a + self.T + 1].copy())
            out.append((chunk[:-1], chunk[1:]))
        return out

    def advance(self):
        nxt = self.pos + self.B
        if nxt + self.B + 1 < len(self.toks):
            self.pos = nxt
            return
        self.shard = (self.shard + 1) % len(self.paths)
        self.toks = read_shard(self.paths[self.shard])
        self.pos = 0


class RandomBatches:
    def __init__(self, vocab, ranks, T, seed):
        self.g = torch.Generator().manual_seed(seed + 1)
        self.vocab, self.ranks, self.T = vocab, ranks, T

    def current(self):
        out = []
        for _ in range(self.ranks):
            chunk = torch.randint(0, self.vocab, (self.T + 1,), generator=self.g)
            out.append((chunk[:-1], chunk[1:]))
        return out

    def advance(self):
        pass


def blas_libraries():
    """The BLAS shared objects this process has mapped."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in path or "lapack" in path:
                libs.add(os.path.realpath(path))
    return sorted(libs)


def main(args):
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.autograd.set_detect_anomaly(False)
    torch.set_grad_enabled(True)

    spec = load_spec(args)
    cfg = R.Config(spec)
    ranks, T = spec["train.ranks"], spec["train.tokens_per_rank"]
    B = ranks * T

    # The rotary table depends only on T: build it once, as gptc does.
    rot_cache = {}
    base_rotary = R.rotary_tables

    def cached_rotary(c, n):
        if n not in rot_cache:
            rot_cache[n] = base_rotary(c, n)
        return rot_cache[n]
    R.rotary_tables = cached_rotary

    gen = torch.Generator().manual_seed(args.seed)
    p = R.init_params(cfg, gen, dtype=torch.float32)
    for t in p.values():
        t.requires_grad_(True)
    opt = R.Optimizers(cfg, p)
    for g in opt.adam.param_groups:
        g["foreach"] = args.adam_foreach == "on"
    assert all(t.dtype == torch.float32 for t in p.values())

    if args.random:
        data, source = RandomBatches(cfg.V, ranks, T, args.seed), "random tokens"
    else:
        data = Batches(spec["train.data.train"], ranks, T)
        source = "shards %s from position 0 (the batches gptc's step i reads)" % spec["train.data.train"]
    params = list(p.values())

    def train_step(step):
        for t in params:
            t.grad = None
        loss_sum = 0.0
        for ids, tgt in data.current():
            _, loss = R.forward(cfg, p, ids, tgt, step)
            loss.backward()
            loss_sum += loss.item()
        if ranks > 1:
            with torch.no_grad():
                for t in params:
                    t.grad.div_(ranks)
        opt.step(step)
        return loss_sum / ranks

    times, losses = [], []
    total = args.warmup + args.steps
    for step in range(total):
        if step > 0:
            data.advance()
        t0 = time.perf_counter()
        loss = train_step(step)
        ms = (time.perf_counter() - t0) * 1e3
        losses.append(loss)
        if step >= args.warmup:
            times.append(ms)
    med = statistics.median(times)
    result = {
        "side": "torch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "blas_libraries": blas_libraries(),
        "dtype": "float32",
        "adam_foreach": args.adam_foreach == "on",
        "compile": "none: torch %s has no torch.compile" % torch.__version__
                   if not hasattr(torch, "compile") else "available, not used",
        "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        "data": "random" if args.random else "shards",
        "model": args.model,
        "set": args.set,
        "ranks": ranks,
        "tokens_per_rank": T,
        "tokens_per_step": B,
        "warmup_steps": args.warmup,
        "steps": args.steps,
        "step_ms": [round(x, 3) for x in times],
        "median_step_ms": round(med, 3),
        "tokens_per_s": round(B / (med / 1e3), 1),
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }
    log("bench_torch: %s, torch %s, %d threads (interop 1, OPENBLAS_NUM_THREADS=%s), float32, "
        "%d x %d tokens per step, data: %s" % (args.model, torch.__version__, args.threads,
                                               result["openblas_num_threads"], ranks, T, source))
    log("bench_torch: %s; no scaled_dot_product_attention in this torch: einsum + masked softmax"
        % result["compile"] if not result["sdpa"] else "bench_torch: %s" % result["compile"])
    log("bench_torch: BLAS %s" % ", ".join(result["blas_libraries"]))
    log("bench_torch: loss %.4f -> %.4f; median step %.2f ms over %d steps (%d warm-up excluded): "
        "%.1f tokens/s" % (losses[0], losses[-1], med, len(times), args.warmup, result["tokens_per_s"]))
    print("BENCH_TORCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(ARGS)
