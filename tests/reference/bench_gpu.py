"""
bench_gpu.py: times one training step of a gptc model in PyTorch on a GPU,
set up the way the recipe runs it (docs/recipe.md, whose sections are cited
by title), so that gptc's cuda executor has a fair baseline on the same
ModelSpec: bf16 weights and activations ('Dtypes'), FlexAttention with a
document-causal block-window BlockMask ('Document mask', 'PyTorch setup'),
torch.compile, fused AdamW for head, tables and scalars ('Adam'), and Muon
with Newton-Schulz in bf16 on the block matrices and the split16 fp32 master
('Muon').

The model here is a GPU-fast variant of gptc_ref.py (the project's reference,
written from the same spec): same Config, same parameter names and init, but
batched QKV, bf16 activations and a choice of attention kernels. Before it is
trusted it is checked against gptc_ref.py (--check, --check-only): in fp32 on
a short sequence, loss, logits and every parameter's gradient must agree with
gptc_ref's float64 forward/backward within stated tolerances, the tiles of
the FlexAttention BlockMask must cover the token rule exactly (full tiles
fully allowed, every allowed pair in some tile), and the Muon master
split/join must round-trip bit for bit.

One timed step: forward (masks built from the tokens, as every training step
must), backward, AdamW, Muon, gradients reset; the whole step of one rank with
the optimizers over every parameter (the recipe shares Muon's Newton-Schulz
among 8 ranks; here one GPU does all of it, as gptc's single-GPU step does;
opt_ms reports that part apart). Windows and the learning-rate schedule are
those of training step --window-step (default train.steps: the final windows,
the ones gptc check's flops_per_token counts). Tokens are synthetic: seeded
uniform ids with an EOT about every --doc-tokens tokens, a new batch per step.

Usage:
  python3 tests/reference/bench_gpu.py models/r10-medium-x01.yaml \\
      --gptc build/gptc --tokens-per-gpu 65536 --steps 20 --out torch.json
  /usr/bin/python3 tests/reference/bench_gpu.py models/tiny.yaml --device cpu \\
      --no-compile --steps 2 --warmup 1 --tokens-per-gpu 1024 --check

Measured with torch 2.11 (the command above, --compile-mode default, no
--check): on an H100 80GB, about 2 minutes in all: 15 s setup, 93 s compile
(the first warm-up step), 271 ms/step (fwd+bwd 246, optimizers 22), 242k
tokens/s, MFU 46%, peak 48.6 GiB; on an H200 258 ms/step and 87 s compile.
--check on models/tiny.yaml with --device cuda takes about 30 s.

--profile N runs N more forward+backward passes under torch.profiler and
sorts their kernels (on the CPU, their operators) into the classes of gptc
bench --profile: GEMMs, attention forward and backward, softcap +
cross-entropy, elementwise, copies; with TFLOP/s for the GEMMs and for
attention (its useful FLOPs: 4 per visible query-key pair and head dimension
forward, 8 backward) and each class's top kernel names, so that a kernel
filed in the wrong class shows. The result object gets "profile".

Prints human-readable lines on stderr and, last on stdout, one line
  BENCH_GPU {"median_step_ms": ..., "tokens_per_s": ..., "mfu": ..., ...}
(the same object goes to --out). --check prints CHECK_GPU {...} first. Exit
status 1 when the check fails or a loss is not finite, 2 on bad arguments.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

PEAK_TFLOPS = 989.0       # H100 SXM dense bf16 (H200: the same)
FLEX_TILE = 128           # FlexAttention's sparse tile, tokens per side

# --check tolerances, fp32 model against gptc_ref in float64. fp32 has 24-bit
# mantissas (6e-8); a 6-layer forward and backward loses about three decimal
# digits, so 1e-5 relative on the loss and the logits' scale and 1e-4 on
# each gradient's norm leave a margin of ten without hiding a wrong term
# (a misplaced mask entry or scalar moves these by 1e-3 or more).
TOL_LOSS = 1e-5
TOL_LOGITS = 1e-5
TOL_GRAD = 1e-4
# One optimizer step from the same gradients, fp32 against float64, with the
# Newton-Schulz of the check run in float64 (in bf16 it differs from
# gptc_ref's float64 by ~3e-2, which would hide a wrong weight decay). Adam's
# first step is lr g / (|g| + eps): a few value-embedding gradients are as
# small as eps (1e-10, see 'Adam') and carry fp32's relative error of such tiny
# sums, which moves those entries by up to 1e-3 of the update's norm.
TOL_OPT = {"adam": 1e-3, "muon": 1e-4}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="the model file (MODEL.yaml or MODEL.json), e.g. models/tiny.yaml")
    ap.add_argument("--gptc", default="build/gptc", help="gptc binary, for `gptc check MODEL --json`")
    ap.add_argument("--spec-json", metavar="FILE",
                    help="the saved output of `gptc check MODEL --json`, instead of running gptc")
    ap.add_argument("--tokens-per-gpu", type=int, default=65536, help="tokens per step (one sequence)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="torch.compile the model and the Muon update (default where torch has it)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--compile-mode", default="default",
                    choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
                    help="torch.compile mode (default: 'default'; max-autotune takes many minutes)")
    ap.add_argument("--coordinate-descent", action="store_true",
                    help="inductor coordinate_descent_tuning, as the medium record sets (slow to compile)")
    ap.add_argument("--attention", choices=["auto", "flex", "sdpa", "math"], default="auto",
                    help="auto: FlexAttention on cuda where torch has it, else scaled_dot_product_attention "
                         "with an explicit mask, else matmul + masked softmax")
    ap.add_argument("--window-step", type=int, default=None,
                    help="training step whose windows and schedule the steps use (default train.steps)")
    ap.add_argument("--doc-tokens", type=int, default=1024, help="mean document length of the synthetic tokens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peak-tflops", type=float, default=PEAK_TFLOPS, help="for MFU (default 989, H100 bf16)")
    ap.add_argument("--check", action="store_true", help="check the model against gptc_ref.py first")
    ap.add_argument("--check-only", action="store_true", help="only the check, no benchmark")
    ap.add_argument("--check-tokens", type=int, default=1024, help="sequence length of the check")
    ap.add_argument("--out", metavar="FILE", help="write the result object here as JSON")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="then N more forward+backward passes under torch.profiler, by class (as gptc bench --profile)")
    args = ap.parse_args()
    for name in ("tokens_per_gpu", "steps", "check_tokens", "doc_tokens"):
        if getattr(args, name) < 1:
            ap.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.warmup < 0:
        ap.error("--warmup must be at least 0")
    if args.profile < 0:
        ap.error("--profile must be at least 0")
    return args


ARGS = parse_args()
# Before torch initialises CUDA ('PyTorch setup': the recipe's allocator setting).
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    sys.exit("bench_gpu: %s has no PyTorch: %s" % (sys.executable, e))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gptc_ref as R  # noqa: E402

try:
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
except ImportError:
    BlockMask = flex_attention = None
HAS_COMPILE = hasattr(torch, "compile")
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load_check_json(args):
    """The whole `gptc check --json` object: the spec and the stats."""
    try:
        if args.spec_json:
            with open(args.spec_json) as f:
                return json.load(f)
        out = subprocess.run([args.gptc, "check", args.model, "--json"], check=True,
                             stdout=subprocess.PIPE).stdout
        return json.loads(out)
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        log("bench_gpu: cannot read the spec of %s: %s" % (args.model, e))
        sys.exit(2)


# ---------------------------------------------------------------------------
# Masks: the token rule of 'Document mask' and its FlexAttention tiles
# ---------------------------------------------------------------------------

def document_ids(ids, eot):
    """doc[t] = number of EOTs in ids[0..t] (an EOT opens its document)."""
    return torch.cumsum((ids == eot).to(torch.int32), 0)


def token_mask(docs, W, bs):
    """Dense [T, T] boolean mask, [query, key]: k <= q, same document, and
    key block >= query block - W + 1."""
    idx = torch.arange(docs.numel(), device=docs.device)
    q, k = idx[:, None], idx[None, :]
    return (k <= q) & (docs[:, None] == docs[None, :]) & (k // bs >= q // bs - W + 1)


def tile_masks(docs, W, bs, tile):
    """(partial, full) [n, n] booleans over tile x tile squares, [query tile,
    key tile]. A tile is full when every pair in it passes the token rule,
    which is a conjunction, so full = causal-all & same-doc-all & window-all,
    each exact (documents are contiguous, so a tile pair lies in one document
    iff the key tile's first token and the query tile's last share it). A tile
    is kept (partial or full) when each condition holds for some pair; that
    may keep a tile with no allowed pair, which costs a little time but never
    a wrong result, since partial tiles apply the token rule itself."""
    T = docs.numel()
    n = T // tile
    t = torch.arange(n, device=docs.device)
    qt, kt = t[:, None], t[None, :]
    first, last = docs[0::tile], docs[tile - 1::tile]       # docs at tile ends
    kept = ((kt <= qt) & (last[None, :] >= first[:, None])
            & ((kt * tile + tile - 1) // bs >= (qt * tile) // bs - W + 1))
    full = ((kt < qt) & (first[None, :] == last[:, None])
            & ((kt * tile) // bs >= (qt * tile + tile - 1) // bs - W + 1))
    return kept & ~full, full


def ordered_blocks(m):
    """BlockMask's (count, indices) form of a boolean tile matrix [n, n]:
    per query tile the number of set key tiles and their indices first."""
    num = m.sum(-1, dtype=torch.int32)
    idx = torch.argsort(m.to(torch.int32), dim=-1, descending=True, stable=True).to(torch.int32)
    return num[None, None].contiguous(), idx[None, None].contiguous()


class FlexAttention:
    name = "flex"

    def __init__(self, compile_kernel):
        # FlexAttention runs as a fused kernel only when compiled; inside a
        # compiled model it is compiled with the model.
        self.fn = torch.compile(flex_attention, dynamic=False) if compile_kernel else flex_attention

    def mask(self, docs, W, bs):
        T = docs.numel()
        Wt = torch.tensor(W, device=docs.device)   # a tensor, so a new W is not a recompile

        def mask_mod(b, h, q, k):
            return (k <= q) & (docs[q] == docs[k]) & (k // bs >= q // bs - Wt + 1)
        partial, full = tile_masks(docs, W, bs, FLEX_TILE)
        kv_num, kv_idx = ordered_blocks(partial)
        full_num, full_idx = ordered_blocks(full)
        return BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx,
                                        BLOCK_SIZE=FLEX_TILE, mask_mod=mask_mod, seq_lengths=(T, T))

    def __call__(self, q, k, v, mask, scale):
        return self.fn(q[None], k[None], v[None], block_mask=mask, scale=scale)[0]


class SdpaAttention:
    name = "sdpa"

    def mask(self, docs, W, bs):
        return token_mask(docs, W, bs)

    def __call__(self, q, k, v, mask, scale):
        return F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask, scale=scale)[0]


class MathAttention:
    """Scores in fp32 and a masked softmax, then PV in the input dtype."""
    name = "math"

    def mask(self, docs, W, bs):
        return token_mask(docs, W, bs)

    def __call__(self, q, k, v, mask, scale):
        s = torch.matmul(q, k.transpose(-1, -2)).float() * scale
        p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.matmul(p.to(v.dtype), v)


def make_attention(kind, device, compiled_model):
    if kind == "auto":
        kind = "flex" if flex_attention is not None and device == "cuda" else "sdpa" if HAS_SDPA else "math"
    if kind == "flex":
        if flex_attention is None:
            sys.exit("bench_gpu: torch %s has no FlexAttention" % torch.__version__)
        return FlexAttention(compile_kernel=HAS_COMPILE and not compiled_model)
    if kind == "sdpa":
        if not HAS_SDPA:
            sys.exit("bench_gpu: torch %s has no scaled_dot_product_attention" % torch.__version__)
        return SdpaAttention()
    return MathAttention()


# ---------------------------------------------------------------------------
# The model ('Forward pass', in order, as gptc_ref.forward, with bf16 activations)
# ---------------------------------------------------------------------------

def rmsnorm(x):
    """Weightless RMSNorm, eps 2^-23, reduced in fp32 ('RMS norm')."""
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.size(-1),), eps=R.RMS_EPS)
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + R.RMS_EPS)).to(x.dtype)


DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def param_dtypes(spec, fp32):
    """dtype of each parameter class and of the activations ('Dtypes')."""
    if fp32:
        return dict(matrices=torch.float32, embeddings=torch.float32, head=torch.float32, act=torch.float32)
    m = DTYPES[spec["dtypes.matrices"]]
    return dict(matrices=m, embeddings=DTYPES[spec["dtypes.embeddings"]],
                head=DTYPES[spec["dtypes.head"]], act=m)


def param_class(name):
    if name == "lm_head_w":
        return "head"
    if name == "scalars":
        return "scalars"
    if name.startswith("embed") or name.startswith("value_embeds"):
        return "embeddings"
    return "matrices"


def attr_name(name):
    return name.replace(".", "_")


class FastGPT(torch.nn.Module):
    def __init__(self, cfg, params, dtypes, attention, device, T):
        super().__init__()
        self.cfg, self.attn, self.act = cfg, attention, dtypes["act"]
        self.names = list(params)
        for name, t in params.items():
            cls = param_class(name)
            dt = torch.float32 if cls == "scalars" else dtypes[cls]
            self.register_parameter(attr_name(name),
                                    torch.nn.Parameter(t.to(device=device, dtype=dt)))
        cos, sin = R.rotary_tables(cfg, T)      # fp32, as in 'Rotary'
        self.register_buffer("cos", cos.to(device)[:, None, :], persistent=False)
        self.register_buffer("sin", sin.to(device)[:, None, :], persistent=False)
        self.windows = cfg.windows(cfg.steps)

    def p(self, name):
        return getattr(self, attr_name(name))

    def named(self):
        """(gptc name, parameter) pairs in state_dict order."""
        return [(n, self.p(n)) for n in self.names]

    def rotary(self, x):
        """Rotation in fp32, cast back ('Rotary'); x: [T, heads, head_dim]."""
        xf = x.float()
        cos, sin = self.cos, self.sin
        if self.cfg.rot_conv == "half":
            x1, x2 = xf.chunk(2, dim=-1)
            y = torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)
        else:
            x1, x2 = xf[..., 0::2], xf[..., 1::2]
            y = torch.stack((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1).flatten(-2)
        return y.to(x.dtype)

    def attention(self, i, x, ve, mask):
        cfg, s = self.cfg, self.p("scalars")
        T, H, hd = x.size(0), cfg.heads, cfg.hd
        w = self.p("blocks.%d.attn.qkvo_w" % i)
        h = rmsnorm(x) if cfg.norm == "pre" else x
        q, k, v = F.linear(h, w[:3].flatten(0, 1)).view(T, 3 * H, hd).split(H, dim=1)
        q, k = self.rotary(rmsnorm(q)), self.rotary(rmsnorm(k))
        if cfg.norm == "qkv":
            v = rmsnorm(v)
        v = s[cfg.sa_index(i, 0)] * v
        if ve is not None:
            v = v + s[cfg.sa_index(i, 1)] * ve.view(T, H, hd)
        y = self.attn(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), mask, cfg.scale)
        return F.linear(y.transpose(0, 1).reshape(T, cfg.D), w[3])

    def softcap(self, z):
        cfg = self.cfg
        if cfg.softcap == "isru":
            return cfg.cap * z * torch.rsqrt(z * z + cfg.cap * cfg.cap)
        if cfg.softcap == "sigmoid":
            return cfg.cap * torch.sigmoid((z + cfg.offset) / cfg.divisor)
        return z

    def forward(self, ids, targets, want_logits=False):
        cfg, s, act = self.cfg, self.p("scalars"), self.act
        docs = document_ids(ids, cfg.eot)
        long_w, short_w = self.windows
        masks = {True: self.attn.mask(docs, long_w, cfg.bs), False: self.attn.mask(docs, short_w, cfg.bs)}
        ves = [F.embedding(ids, self.p("value_embeds.%d.weight" % k)).to(act) for k in range(cfg.n_ve)]
        x0 = [rmsnorm(F.embedding(ids, self.p(n)).to(act)) for n in cfg.input_names()]
        x, outs = x0[0], []
        for i in range(cfg.L):
            for src, dst in cfg.skips:
                if dst == i:
                    x = x + s[cfg.skip_index(src)] * outs[src]
            x = s[cfg.lambda_index(i, 0)] * x
            for k in range(cfg.n_in):
                x = x + s[cfg.lambda_index(i, k + 1)] * x0[k]
            if cfg.attn[i]:
                t = cfg.ve_layers[i]
                x = x + self.attention(i, x, ves[t] if t is not None else None, masks[cfg.long[i]])
            h = F.linear(rmsnorm(x), self.p("blocks.%d.mlp.fc_w" % i))
            x = x + F.linear(F.relu(h).square(), self.p("blocks.%d.mlp.proj_w" % i))
            outs.append(x)
        head = self.p(cfg.input_names()[0]) if cfg.tied else self.p("lm_head_w")
        logits = self.softcap(F.linear(rmsnorm(x), head.to(act)).float())
        loss = F.cross_entropy(logits, targets)
        return (loss, logits) if want_logits else loss


# ---------------------------------------------------------------------------
# Optimizers ('Adam', 'Muon'): fused AdamW, and Muon with a bf16 Newton-Schulz
# ---------------------------------------------------------------------------

def newton_schulz(u, coeffs, dtype):
    """'Muon': NS5 in `dtype` (bf16 as the recipe), batched over leading dims:
    transpose when rows > cols, X / (|X|_F + 1e-7) per matrix, A = X X^T,
    B = b A + (c A) A, X = a X + B X."""
    X = u.to(dtype)
    tall = X.size(-2) > X.size(-1)
    if tall:
        X = X.transpose(-2, -1)
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for a, b, c in coeffs:
        A = X @ X.transpose(-2, -1)
        B = b * A + (c * A) @ A
        X = a * X + B @ X
    return X.transpose(-2, -1) if tall else X


# split16 ('Muon'): the fp32 master's high 16 bits are the bf16 weight, its low
# 16 bits an int16 state. Written with multiply, mask and floor division
# rather than shifts, so no step overflows int32 or depends on how a signed
# shift rounds, in eager mode, under torch.compile and in old torch alike.
def join16(w, low):
    hi = w.view(torch.int16).to(torch.int32) * 65536
    return (hi + (low.to(torch.int32) & 0xFFFF)).view(torch.float32)


def split16(master, w, low):
    bits = master.view(torch.int32)
    lo = bits & 0xFFFF
    low.copy_(torch.where(lo > 32767, lo - 65536, lo).to(torch.int16))
    w.copy_(torch.div(bits - lo, 65536, rounding_mode="floor").to(torch.int16).view(torch.bfloat16))


def make_muon_update(coeffs, nesterov, master, ns_dtype):
    """The per-parameter Muon step; hyper = [momentum, 1 - lr wd wd_mul,
    lr_eff] as fp32 device values, so a new step's values are no recompile."""
    def update(w, state, buf, g, hyper):
        m, decay, lr_eff = hyper[0], hyper[1], hyper[2]
        g = g.float()
        buf.copy_(m * buf + (1 - m) * g)
        u = m * buf + (1 - m) * g if nesterov else buf
        O = newton_schulz(u, coeffs, ns_dtype).float()
        if master == "split16":
            split16(join16(w, state) * decay - lr_eff * O, w, state)
        elif master == "fp32":
            state.copy_(state * decay - lr_eff * O)
            w.copy_(state)
        else:
            w.copy_(w * decay - lr_eff * O)
    return update


class Optimizers:
    def __init__(self, cfg, model, device, compile_mode, ns_dtype=torch.bfloat16):
        s = cfg.spec
        self.cfg = cfg
        named = model.named()
        head = [t for n, t in named if n == "lm_head_w"]
        tables = [t for n, t in named if param_class(n) == "embeddings"]
        groups = [dict(params=head, lr=s["train.adam.lr_head"]),
                  dict(params=tables, lr=s["train.adam.lr_embed"]),
                  dict(params=[model.p("scalars")], lr=s["train.adam.lr_scalars"])]
        groups = [g for g in groups if g["params"]]
        for g in groups:
            g["base_lr"] = g["lr"]
        kw = dict(betas=(s["train.adam.beta1"], s["train.adam.beta2"]), eps=s["train.adam.eps"],
                  weight_decay=s["train.adam.weight_decay"])
        try:
            self.adam = torch.optim.AdamW(groups, fused=device == "cuda", **kw)
            self.adam_kind = "AdamW(fused)" if device == "cuda" else "AdamW"
        except (TypeError, RuntimeError):
            self.adam = torch.optim.AdamW(groups, **kw)
            self.adam_kind = "AdamW"
        self.muon = [(n, t) for n, t in named if param_class(n) == "matrices"]
        master = s["dtypes.muon_master"] if self.muon and self.muon[0][1].dtype == torch.bfloat16 else "none"
        self.master = master
        self.state = {}
        for n, t in self.muon:
            if master == "split16":
                st = torch.zeros(t.shape, dtype=torch.int16, device=device)
            elif master == "fp32":
                st = t.detach().float().clone()
            else:
                st = None
            self.state[n] = (st, torch.zeros(t.shape, dtype=torch.float32, device=device))
        update = make_muon_update(tuple(tuple(c) for c in s["train.muon.ns_coefficients"]),
                                  s["train.muon.nesterov"], master, ns_dtype)
        self.update = torch.compile(update, dynamic=False, mode=compile_mode) if compile_mode else update
        # One small tensor per parameter, not rows of one: a view's storage
        # offset could make each call a recompile of the update.
        self.hyper = [torch.zeros(3, dtype=torch.float32, device=device) for _ in self.muon]

    def set_step(self, step):
        """Learning rates and momentum of training step `step` ('Schedules')."""
        cfg, s = self.cfg, self.cfg.spec
        mult = R.lr_mult(cfg, step)
        for g in self.adam.param_groups:
            g["lr"] = g["base_lr"] * mult
        m, lr_t = R.muon_momentum(cfg, step), s["train.muon.lr"] * mult
        rows = []
        for n, t in self.muon:
            wd_mul = s["train.muon.attn_wd_mul"] if n.endswith("qkvo_w") else s["train.muon.mlp_wd_mul"]
            r, c = t.shape[-2], t.shape[-1]
            rows.append([m, 1 - lr_t * s["train.muon.weight_decay"] * wd_mul,
                         lr_t * math.sqrt(max(1.0, r / c))])
        for h, row in zip(self.hyper, torch.tensor(rows, dtype=torch.float32)):
            h.copy_(row)

    def step(self):
        self.adam.step()
        with torch.no_grad():
            for i, (n, t) in enumerate(self.muon):
                st, buf = self.state[n]
                self.update(t, st, buf, t.grad, self.hyper[i])


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

def synthetic_batch(cfg, T, doc_tokens, gen):
    """(ids [T], targets [T]) int64: uniform ids other than EOT, with EOTs at
    about T / doc_tokens random positions (documents of about doc_tokens)."""
    toks = torch.randint(0, cfg.V - 1, (T + 1,), generator=gen)
    toks[toks >= cfg.eot] += 1
    n = max(1, T // doc_tokens)
    toks[torch.randperm(T + 1, generator=gen)[:n]] = cfg.eot
    return toks[:-1].clone(), toks[1:].clone()


# ---------------------------------------------------------------------------
# The check against gptc_ref.py
# ---------------------------------------------------------------------------

def check_spec(spec):
    """The model's spec with every weight random: the recipe's zero Wo, proj
    and head would make most of the forward pass invisible to the loss."""
    s = dict(spec)
    s["init.zero_out_proj"] = False
    s["head.init"] = "normal"
    s["head.init_std"] = 0.5
    s["value_embeddings.init"] = "normal"
    return s


def check_tiles(cfg, ids, W, tile):
    """Tiles against the dense token rule: a full tile allows every pair, a
    dropped tile none. Returns the number of offending tiles."""
    docs = document_ids(ids, cfg.eot)
    dense = token_mask(docs, W, cfg.bs)
    n = ids.numel() // tile
    by_tile = dense[:n * tile, :n * tile].reshape(n, tile, n, tile).transpose(1, 2)
    partial, full = tile_masks(docs, W, cfg.bs, tile)
    bad_full = (full & ~by_tile.all(-1).all(-1)).sum()
    dropped = (~(partial | full) & by_tile.any(-1).any(-1)).sum()
    return int(bad_full + dropped)


def check_split16(device):
    g = torch.Generator().manual_seed(7)
    master = (torch.randn(4096, generator=g) * 10.0 ** torch.randint(-30, 30, (4096,), generator=g)).to(device)
    w = torch.empty(4096, dtype=torch.bfloat16, device=device)
    low = torch.empty(4096, dtype=torch.int16, device=device)
    split16(master, w, low)
    trunc = (master.view(torch.int32) & -65536).view(torch.float32)
    ok = torch.equal(join16(w, low).view(torch.int32), master.view(torch.int32))
    return ok and torch.equal(w.float().view(torch.int32), trunc.view(torch.int32))


def check_optimizer_step(cfg, ref, model, device, step):
    """One step of both sides' optimizers from the gradients they hold: the
    worst relative error of each parameter's update, Adam's and Muon's
    (Newton-Schulz in float64 on both sides, see TOL_OPT)."""
    before = {n: t.detach().cpu().double() for n, t in model.named()}
    ref_before = {n: t.detach().clone() for n, t in ref.items()}
    ref_opt = R.Optimizers(cfg, ref)
    with torch.no_grad():
        ref_opt.step(step)
    opt = Optimizers(cfg, model, device, None, ns_dtype=torch.float64)
    opt.set_step(step)
    opt.step()
    worst = {"adam": (0.0, ""), "muon": (0.0, "")}
    for n, t in model.named():
        d_ref = ref[n].detach() - ref_before[n]
        d = t.detach().cpu().double() - before[n]
        err = ((d - d_ref).norm() / d_ref.norm().clamp(min=1e-30)).item()
        kind = "muon" if param_class(n) == "matrices" else "adam"
        if err > worst[kind][0]:
            worst[kind] = (err, n)
    return worst


def run_check(args, spec, device, attention_kind):
    """fp32 fast model vs gptc_ref float64 on --check-tokens tokens, at the
    windows of step train.steps // 8 (windows that bind at short lengths)
    and of the benchmark's window step."""
    cfg = R.Config(check_spec(spec))
    T = args.check_tokens
    gen = torch.Generator().manual_seed(args.seed + 100)
    p64 = R.init_params(cfg, gen, torch.float64, scalar_noise=0.1)
    ids, tgt = synthetic_batch(cfg, T, max(16, T // 6), gen)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    attn = make_attention(attention_kind, device, compiled_model=False)
    model = FastGPT(cfg, {n: t.float() for n, t in p64.items()}, param_dtypes(spec, fp32=True), attn, device, T)
    result = dict(model=args.model, tokens=T, attention=attn.name, device=device,
                  tolerances=dict(loss=TOL_LOSS, logits=TOL_LOGITS, grad=TOL_GRAD))
    failures = []
    window_step = cfg.steps if args.window_step is None else args.window_step
    for step in sorted({cfg.steps // 8, window_step}):
        ref = {n: t.clone().requires_grad_(True) for n, t in p64.items()}
        logits_ref, loss_ref = R.forward(cfg, ref, ids, tgt, step)
        loss_ref.backward()
        model.windows = cfg.windows(step)
        model.zero_grad(set_to_none=True)
        loss, logits = model(ids.to(device), tgt.to(device), want_logits=True)
        loss.backward()
        d_loss = abs(loss.item() - loss_ref.item()) / max(1.0, abs(loss_ref.item()))
        d_logits = ((logits.cpu().double() - logits_ref.detach()).abs().max()
                    / logits_ref.detach().abs().max().clamp(min=1e-30)).item()
        d_grad, worst = 0.0, ""
        for n, t in model.named():
            g_ref = ref[n].grad
            d = ((t.grad.cpu().double() - g_ref).norm() / g_ref.norm().clamp(min=1e-30)).item()
            if d > d_grad:
                d_grad, worst = d, n
        tiles = sum(check_tiles(cfg, ids, W, tile) for W in model.windows for tile in (FLEX_TILE, 64, 16)
                    if T % tile == 0)
        result["step_%d" % step] = dict(windows=list(model.windows), loss_ref=loss_ref.item(),
                                        loss_rel_err=d_loss, logits_rel_err=d_logits,
                                        grad_rel_err=d_grad, grad_worst=worst, bad_tiles=tiles)
        if d_loss > TOL_LOSS:
            failures.append("step %d: loss differs by %.3g (relative)" % (step, d_loss))
        if d_logits > TOL_LOGITS:
            failures.append("step %d: logits differ by %.3g (of the largest)" % (step, d_logits))
        if d_grad > TOL_GRAD:
            failures.append("step %d: gradient of %s differs by %.3g (norm)" % (step, worst, d_grad))
        if tiles:
            failures.append("step %d: %d attention tiles disagree with the token rule" % (step, tiles))
        log("bench_gpu: check step %d windows %s: loss %.6f, rel err loss %.2e logits %.2e grad %.2e (%s), "
            "bad tiles %d" % (step, model.windows, loss_ref.item(), d_loss, d_logits, d_grad, worst, tiles))
    opt_errs = check_optimizer_step(cfg, ref, model, device, cfg.steps // 8)
    result["opt_step_rel_err"] = opt_errs
    for kind, (err, name) in opt_errs.items():
        if err > TOL_OPT[kind]:
            failures.append("optimizer step: %s update of %s differs by %.3g (norm)" % (kind, name, err))
    log("bench_gpu: check optimizer step %d: rel err adam %.2e (%s), muon %.2e (%s)"
        % (cfg.steps // 8, opt_errs["adam"][0], opt_errs["adam"][1], opt_errs["muon"][0], opt_errs["muon"][1]))
    if not check_split16(device):
        failures.append("split16 master does not round-trip")
    result["split16_roundtrip"] = "split16 master does not round-trip" not in failures
    result["failures"] = failures
    result["passed"] = not failures
    print("CHECK_GPU " + json.dumps(result), flush=True)
    for f in failures:
        log("bench_gpu: check FAILED: " + f)
    return result


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# The profile by class: the classes of gptc bench --profile
# (runtime/train/bench_profile.c), so that gpu-check prints both side by side
# ---------------------------------------------------------------------------

CLASSES = ("GEMMs", "attention forward", "attention backward", "softcap + cross-entropy", "elementwise", "copies")


def class_of(name):
    """A kernel's (or on the CPU an operator's) class, from its name: cuBLAS
    and CUTLASS GEMMs; FlexAttention's or a flash kernel's forward and
    backward; log-softmax and NLL; copies and fills; the rest (Inductor's
    fused pointwise and reduction kernels) elementwise. Names are what
    torch.profiler reports; the top names per class are printed so that a
    misfiled kernel shows."""
    n = name.lower()
    if any(k in n for k in ("memcpy", "memset", "aten::copy_", "aten::fill_", "aten::zero_", "aten::to")):
        return "copies"
    if any(k in n for k in ("flex_attention", "flash", "fmha", "scaled_dot_product", "attention")):
        return "attention backward" if any(k in n for k in ("backward", "bwd")) else "attention forward"
    if any(k in n for k in ("log_softmax", "cross_entropy", "nll_loss")):
        return "softcap + cross-entropy"
    if any(k in n for k in ("gemm", "xmma", "nvjet", "cutlass", "cublas", "aten::mm", "aten::addmm",
                            "aten::bmm", "aten::_scaled_mm")):
        return "GEMMs"
    return "elementwise"


def attention_pairs(cfg, ids, windows):
    """Visible (query, key) pairs x heads x head_dim over the attention
    layers (the token rule of 'Document mask'): the useful FLOPs are 4 per
    unit forward and 8 backward, as gptc bench counts them."""
    docs = document_ids(ids.cpu(), cfg.eot)
    T = ids.numel()
    t = torch.arange(T)
    start = torch.zeros(T, dtype=torch.long)
    first = torch.ones(T, dtype=torch.bool)
    first[1:] = docs[1:] != docs[:-1]
    start[first] = t[first]
    start = torch.cummax(start, 0).values
    total = 0
    for i in range(cfg.L):
        if not cfg.attn[i]:
            continue
        W = max(1, windows[0] if cfg.long[i] else windows[1])
        lo = torch.clamp(torch.maximum((t // cfg.bs - W + 1) * cfg.bs, start), min=0)
        total += int((t - lo + 1).sum())
    return total * cfg.heads * cfg.hd


def profile_classes(args, info, cfg, fwd, batches, params_list, windows, device):
    """ms per forward+backward pass by class over args.profile passes (the
    optimizer is left out, as gptc bench --profile leaves it out), with
    TFLOP/s for the GEMMs and attention and the top names of each class."""
    from torch.profiler import ProfilerActivity, profile
    cuda = device == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    per = {c: 0.0 for c in CLASSES}
    names = {c: {} for c in CLASSES}
    pairs = 0
    for ids, tgt in batches[:args.profile]:
        sync(device)
        with profile(activities=acts) as prof:
            fwd(ids, tgt).backward()
            sync(device)
        for p in params_list:
            p.grad = None
        pairs += attention_pairs(cfg, ids, windows) / args.profile
        for e in prof.key_averages():
            kernel = str(getattr(e, "device_type", "")).endswith("CUDA")
            if cuda != kernel:
                continue   # on a GPU the kernels; on the CPU the operators' own time
            us = (getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)) if cuda \
                else e.self_cpu_time_total
            c = class_of(e.key)
            per[c] += us / 1e3 / args.profile
            names[c][e.key] = names[c].get(e.key, 0) + us / 1e3 / args.profile
    T = args.tokens_per_gpu
    flops = {"GEMMs": info["flops_per_token"]["matmul"] * T, "attention forward": 4 * pairs,
             "attention backward": 8 * pairs}
    total = sum(per.values())
    out = {}
    log("bench_gpu: profile of %d forward+backward passes, %.2f ms/pass by class:" % (args.profile, total))
    for c in CLASSES:
        top = sorted(names[c].items(), key=lambda kv: -kv[1])[:3]
        rate = flops[c] / (per[c] * 1e9) if c in flops and per[c] > 0 else None
        out[c] = {"ms": round(per[c], 4), "flops": flops.get(c, 0), "top": [[k[:80], round(v, 4)] for k, v in top]}
        log("  %-26s %9.3f ms %6.1f%%%s   %s" % (c, per[c], 100 * per[c] / total if total else 0,
                                              "  %.3g TFLOP/s" % rate if rate else "",
                                              "; ".join("%s %.2f" % (k[:40], v) for k, v in top)))
    return out


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def benchmark(args, info, device, use_compile):
    spec = info["spec"]
    cfg = R.Config(spec)
    T = args.tokens_per_gpu
    window_step = cfg.steps if args.window_step is None else args.window_step
    mode = args.compile_mode if use_compile else None
    if args.coordinate_descent and use_compile:
        import torch._inductor.config as inductor_config
        inductor_config.coordinate_descent_tuning = True
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    params = R.init_params(cfg, gen, torch.float32)
    attn = make_attention(args.attention, device, compiled_model=use_compile)
    if attn.name == "flex" and T % FLEX_TILE:
        sys.exit("bench_gpu: --tokens-per-gpu must be a multiple of %d for FlexAttention" % FLEX_TILE)
    model = FastGPT(cfg, params, param_dtypes(spec, fp32=False), attn, device, T)
    del params
    model.windows = cfg.windows(window_step)
    opt = Optimizers(cfg, model, device, mode)
    opt.set_step(min(window_step, cfg.steps - 1))
    fwd = torch.compile(model, dynamic=False, mode=mode) if use_compile else model
    total = args.warmup + args.steps
    batches = [tuple(t.to(device) for t in synthetic_batch(cfg, T, args.doc_tokens, gen)) for _ in range(total)]
    setup_s = time.perf_counter() - t0
    params_list = list(model.parameters())
    cuda = device == "cuda"

    def mark(marks, i):
        """CUDA events on a GPU; on the CPU, where every op has finished
        when it returns, the host's clock."""
        if cuda:
            marks[i].record()
        else:
            marks[i] = time.perf_counter()

    def step(ids, tgt, marks):
        mark(marks, 0)
        loss = fwd(ids, tgt)
        loss.backward()
        mark(marks, 1)
        opt.step()
        for p in params_list:
            p.grad = None
        mark(marks, 2)
        return loss.detach()

    def new_marks():
        return [torch.cuda.Event(enable_timing=True) for _ in range(3)] if cuda else [0.0] * 3

    warm_s, losses = [], []
    for i in range(args.warmup):
        sync(device)
        t = time.perf_counter()
        losses.append(step(*batches[i], new_marks()))
        sync(device)
        warm_s.append(time.perf_counter() - t)
        log("bench_gpu: warm-up step %d: %.2f s" % (i, warm_s[-1]))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    marks = [new_marks() for _ in range(args.steps)]
    sync(device)
    t_all = time.perf_counter()
    for i in range(args.steps):
        losses.append(step(*batches[args.warmup + i], marks[i]))
    sync(device)
    wall = time.perf_counter() - t_all
    profiled = None
    if args.profile:
        more = [tuple(t.to(device) for t in synthetic_batch(cfg, T, args.doc_tokens, gen)) for _ in range(args.profile)]
        profiled = profile_classes(args, info, cfg, fwd, more, params_list, model.windows, device)
    losses = [x.item() for x in losses]
    if cuda:
        step_ms = [a[0].elapsed_time(a[2]) for a in marks]
        fb_ms = [a[0].elapsed_time(a[1]) for a in marks]
        opt_ms = [a[1].elapsed_time(a[2]) for a in marks]
    else:
        step_ms = [(a[2] - a[0]) * 1e3 for a in marks]
        fb_ms = [(a[1] - a[0]) * 1e3 for a in marks]
        opt_ms = [(a[2] - a[1]) * 1e3 for a in marks]
    mean_ms = wall * 1e3 / args.steps           # back to back, launch gaps included
    med = statistics.median(step_ms)
    flops = info["flops_per_token"]
    tps = T / (mean_ms / 1e3)
    result = {
        "side": "torch",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "model": args.model,
        "tokens_per_step": T,
        "warmup_steps": args.warmup,
        "steps": args.steps,
        "window_step": window_step,
        "windows": list(model.windows),
        "attention": attn.name,
        "compile": bool(use_compile),
        "compile_mode": mode,
        "coordinate_descent_tuning": bool(args.coordinate_descent and use_compile),
        "dtypes": {k: str(v).replace("torch.", "") for k, v in param_dtypes(spec, False).items()},
        "optimizer": "%s (head, tables, scalars) + Muon NS5 bf16 on every block matrix, master %s"
                     % (opt.adam_kind, opt.master),
        "doc_tokens": args.doc_tokens,
        "mean_step_ms": round(mean_ms, 3),
        "median_step_ms": round(med, 3),
        "step_ms": [round(x, 3) for x in step_ms],
        "median_fwd_bwd_ms": round(statistics.median(fb_ms), 3) if fb_ms else None,
        "median_opt_ms": round(statistics.median(opt_ms), 3) if opt_ms else None,
        "tokens_per_s": round(tps, 1),
        "flops_per_token": flops,
        "peak_tflops": args.peak_tflops,
        "mfu": float("%.4g" % (flops["total"] * tps / (args.peak_tflops * 1e12))),
        "setup_s": round(setup_s, 2),
        "warmup_s": [round(x, 2) for x in warm_s],
        "compile_s": round(max(0.0, sum(warm_s) - len(warm_s) * mean_ms / 1e3), 2) if use_compile else 0.0,
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }
    if profiled:
        result["profile"] = profiled
    log("bench_gpu: %s on %s, torch %s, attention %s, compile %s, %d tokens/step, windows %s (step %d)"
        % (args.model, result["device"], torch.__version__, attn.name,
           mode if use_compile else "off", T, result["windows"], window_step))
    log("bench_gpu: optimizer: %s" % result["optimizer"])
    log("bench_gpu: %.2f ms/step (median %.2f; fwd+bwd %s, opt %s), %.0f tokens/s, MFU %.1f%% of %.0f TFLOP/s "
        "at %.3g FLOP/token; compile %.1f s; peak memory %s; loss %.4f -> %.4f"
        % (mean_ms, med, result["median_fwd_bwd_ms"], result["median_opt_ms"], tps, 100 * result["mfu"],
           args.peak_tflops, flops["total"], result["compile_s"],
           "%.2f GiB" % (result["peak_memory_bytes"] / 2 ** 30) if cuda else "n/a",
           losses[0], losses[-1]))
    if not all(math.isfinite(x) for x in losses):
        log("bench_gpu: a loss is not finite")
        result["failed"] = "non-finite loss"
    return result


def main(args):
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA device (use --device cpu)")
    use_compile = HAS_COMPILE if args.compile is None else args.compile
    if use_compile and not HAS_COMPILE:
        sys.exit("bench_gpu: torch %s has no torch.compile (use --no-compile)" % torch.__version__)
    info = load_check_json(args)
    check = None
    if args.check or args.check_only:
        check = run_check(args, info["spec"], device, args.attention)
    if args.check_only:
        result = {"check": check}
    else:
        result = benchmark(args, info, device, use_compile)
        if check is not None:
            result["check"] = check
        print("BENCH_GPU " + json.dumps(result), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    if (check is not None and not check["passed"]) or "failed" in result:
        sys.exit(1)


if __name__ == "__main__":
    main(ARGS)
